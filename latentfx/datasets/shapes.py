"""Procedural shapes with known factors: kind, colour, size, position, background.

Each image is a pure function of (seed, index), so a dataset can be regenerated anywhere and
every image's factors are known exactly. That is what lets tests check latent arithmetic for
what it means: the "red" attribute vector of this dataset should make shapes redder.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw


KINDS = ("circle", "square", "triangle", "diamond")
COLOURS = {
    "red": (220, 40, 40),
    "green": (40, 180, 60),
    "blue": (40, 80, 220),
    "yellow": (235, 205, 40),
    "magenta": (200, 50, 200),
    "white": (240, 240, 240),
}
BACKGROUNDS = {"dark": (30, 30, 36), "light": (190, 190, 180)}
SUPERSAMPLE = 4  # draw at 4x and downscale: anti-aliased edges


@dataclass(frozen=True)
class ShapeFactors:
    kind: str
    colour: str
    background: str
    size: float  # radius as a fraction of the image side, 0.12..0.32
    x: float  # centre, as a fraction of the image side
    y: float

    @property
    def labels(self) -> dict:
        """One 0/1 column per kind, colour and background: ready for attribute vectors."""
        out = {f"kind_{k}": int(self.kind == k) for k in KINDS}
        out.update({f"colour_{c}": int(self.colour == c) for c in COLOURS})
        out.update({f"background_{b}": int(self.background == b) for b in BACKGROUNDS})
        return out


def factors_for(index: int, *, seed: int = 0) -> ShapeFactors:
    rng = np.random.default_rng([seed, index])
    size = float(rng.uniform(0.12, 0.32))
    margin = size + 0.02
    return ShapeFactors(
        kind=KINDS[int(rng.integers(len(KINDS)))],
        colour=list(COLOURS)[int(rng.integers(len(COLOURS)))],
        background=list(BACKGROUNDS)[int(rng.integers(len(BACKGROUNDS)))],
        size=size,
        x=float(rng.uniform(margin, 1 - margin)),
        y=float(rng.uniform(margin, 1 - margin)),
    )


def render(f: ShapeFactors, *, size: int = 64) -> Image.Image:
    big = size * SUPERSAMPLE
    img = Image.new("RGB", (big, big), BACKGROUNDS[f.background])
    draw = ImageDraw.Draw(img)
    cx, cy, r = f.x * big, f.y * big, f.size * big
    colour = COLOURS[f.colour]
    if f.kind == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
    elif f.kind == "square":
        s = r * 0.85  # same visual area class as the circle
        draw.rectangle([cx - s, cy - s, cx + s, cy + s], fill=colour)
    elif f.kind == "triangle":
        draw.polygon([(cx, cy - r), (cx - r * 0.95, cy + r * 0.8), (cx + r * 0.95, cy + r * 0.8)],
                     fill=colour)
    else:  # diamond
        draw.polygon([(cx, cy - r), (cx + r, cy), (cx, cy + r), (cx - r, cy)], fill=colour)
    return img.resize((size, size), Image.LANCZOS)


def generate(index: int, *, seed: int = 0, size: int = 64) -> tuple[Image.Image, ShapeFactors]:
    f = factors_for(index, seed=seed)
    return render(f, size=size), f


def write_dataset(folder: str | os.PathLike, n: int, *, seed: int = 0, size: int = 64,
                  progress: Callable[[int, int, str], None] | None = None) -> Path:
    """Write n PNGs and labels.csv (path, factors, one-hot label columns) into folder."""
    from latentfx.datasets.labelled_folders import fresh_folder, save_png, write_labels

    folder = fresh_folder(folder)
    rows = []
    for i in range(n):
        img, f = generate(i, seed=seed, size=size)
        name = f"shape_{i:06d}.png"
        save_png(img, folder / name)
        rows.append({"path": name, **asdict(f), **f.labels})
        if progress:
            progress(i + 1, n, name)
    return write_labels(folder, rows)
