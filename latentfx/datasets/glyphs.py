"""Glyphs of real typefaces with known factors: character, weight, slant, serif, family.

The font analogue of the shapes dataset, after the well-known analyses of font latent spaces
(Bernhardsson's 50k fonts at 64x64; Campbell & Kautz, "Learning a Manifold of Fonts",
SIGGRAPH 2014): every image is one character of one face, drawn by FreeType through Pillow
from the TrueType files of typefaces.py, and a pure function of (face, character, copy, seed).

- Black ink on white paper: type as people read it, and as those analyses show it.
- Every glyph of a face is scaled by one factor, the one that makes that face's capital H
  CAP_HEIGHT of the side, and centred by its ink bounding box: faces differ in their em
  size and metrics, and position would otherwise be the loudest factor the model learns.
  Lower-case letters keep their size relative to the capitals.
- Copies beyond the first need jitter: a seeded scale, shift and rotation per copy
  (`jitter` 1 is +-8% scale, +-6% of the side, +-3 degrees: less than any italic's slant).
- The default characters are the capitals A-Z: they share one height, keep their structure
  in italics (a lower-case a or g changes storeys in many italics, which would make the
  slant label a change of letter too), and 26 classes x 21 faces suit a small model trained
  on a CPU. `chars` takes any letters and digits, e.g. "A-Za-z0-9".
"""

from __future__ import annotations

import os
import re
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from latentfx.datasets.typefaces import Face, font_path, font_set, missing_characters, slug
from latentfx.errors import InputError

DEFAULT_CHARS = "A-Z"
CAP_HEIGHT = 0.55   # of the side: the widest capitals (a bold italic M, 1.6 caps) still fit
MAX_EXTENT = 0.92   # an ink box larger than this share of the side is shrunk to fit
SUPERSAMPLE = 4     # draw at 4x and downscale: anti-aliased edges
PAPER, INK = 255, 0
REFERENCE_SIZE = 200  # font size (px) at which a face's cap height is measured
MIN_SIZE = 16


@dataclass(frozen=True)
class Jitter:
    """The largest deviation of each kind at `jitter` 1."""
    scale: float = 0.08
    shift: float = 0.06     # of the side, each axis
    rotation: float = 3.0   # degrees


JITTER = Jitter()


@dataclass(frozen=True)
class GlyphFactors:
    face: Face
    char: str
    copy: int
    scale: float = 1.0     # times the face's common size
    shift_x: float = 0.0   # of the side, rightwards
    shift_y: float = 0.0   # of the side, downwards
    rotation: float = 0.0  # degrees, counter-clockwise

    @property
    def file_name(self) -> str:
        return f"{self.face.slug}_{_char_tag(self.char)}_{self.copy:02d}.png"


def parse_chars(text: str) -> str:
    """"A-Za-z0-9" or "AEIOU" -> the characters, in order, each once. Letters and digits only:
    each becomes a label column char_<c> (char_A, char_a, char_0)."""
    chars: list[str] = []
    for start, end, single in re.findall(r"(.)-(.)|(.)", text):
        run = [chr(c) for c in range(ord(start), ord(end) + 1)] if start else [single]
        if not run:
            raise InputError(f"--chars {text!r}: the range {start}-{end} is backwards")
        chars += [c for c in run if c not in chars]
    bad = "".join(c for c in chars if not (c.isascii() and c.isalnum()))
    if bad or not chars:
        raise InputError(f"--chars {text!r}: give ASCII letters and digits, ranges allowed "
                         f"(e.g. A-Z or A-Za-z0-9){f'; not {bad!r}' if bad else ''}")
    return "".join(chars)


def char_column(char: str) -> str:
    return f"char_{char}"


def _char_tag(char: str) -> str:
    """A file-name part that keeps A and a apart on case-insensitive file systems."""
    kind = "digit" if char.isdigit() else "upper" if char.isupper() else "lower"
    return f"{kind}_{char}"


def glyph_factors(*, chars: str = DEFAULT_CHARS, faces: Sequence[Face] | str = "matplotlib",
                  copies: int = 1, jitter: float | None = None,
                  seed: int = 0) -> list[GlyphFactors]:
    """Every (face, character, copy), face by face, checked; `jitter` None means 1 when there
    are several copies and 0 otherwise."""
    chars, faces, jitter = _checked(chars, faces, copies, jitter)
    return [_jittered(face, char, copy, seed=seed, amount=jitter)
            for face in faces for char in chars for copy in range(copies)]


def _checked(chars, faces, copies: int, jitter: float | None):
    chars = parse_chars(chars)
    faces = font_set(faces) if isinstance(faces, str) else tuple(faces)
    if not faces:
        raise InputError("no typefaces given")
    if copies < 1:
        raise InputError(f"copies must be at least 1, got {copies}")
    jitter = (1.0 if copies > 1 else 0.0) if jitter is None else float(jitter)
    if jitter < 0:
        raise InputError(f"jitter must be 0 or more, got {jitter:g}")
    if copies > 1 and jitter == 0:
        raise InputError(f"{copies} copies without jitter would be {copies} identical images; "
                         f"give a jitter above 0 (1 is the usual amount)")
    for face in faces:
        missing = missing_characters(face, chars)
        if missing:
            raise InputError(f"{face.name} has no glyph for {missing!r}; choose other --chars")
    return chars, faces, jitter


def _jittered(face: Face, char: str, copy: int, *, seed: int, amount: float) -> GlyphFactors:
    # Seeded by the face's name, not its place in a list: choosing other faces or characters
    # leaves every other image as it was.
    rng = np.random.default_rng([seed, zlib.crc32(face.name.encode()), ord(char), copy])
    u = rng.uniform(-1.0, 1.0, size=4) * amount
    return GlyphFactors(face, char, copy, scale=float(1 + u[0] * JITTER.scale),
                        shift_x=float(u[1] * JITTER.shift), shift_y=float(u[2] * JITTER.shift),
                        rotation=float(u[3] * JITTER.rotation))


def render(f: GlyphFactors, *, size: int = 64) -> Image.Image:
    """The glyph as an RGB image of size x size: black ink, white paper."""
    big = size * SUPERSAMPLE
    ink = _ink(str(font_path(f.face)), f.char, CAP_HEIGHT * big * f.scale)  # L, 255 = ink
    if f.rotation:
        ink = ink.rotate(f.rotation, resample=Image.Resampling.BICUBIC, expand=True)
        ink = ink.crop(ink.getbbox())
    limit = MAX_EXTENT * big
    if max(ink.size) > limit:
        shrink = limit / max(ink.size)
        ink = ink.resize((max(1, round(ink.width * shrink)), max(1, round(ink.height * shrink))),
                         Image.Resampling.LANCZOS)
    x = _placed(big, ink.width, f.shift_x)
    y = _placed(big, ink.height, f.shift_y)
    paper = Image.new("L", (big, big), PAPER)
    paper.paste(INK, (x, y, x + ink.width, y + ink.height), mask=ink)
    return paper.resize((size, size), Image.Resampling.LANCZOS).convert("RGB")


def _placed(big: int, extent: int, shift: float) -> int:
    """Left (or top) edge: the ink box centred, moved by the shift, kept inside the margin."""
    margin = round((1 - MAX_EXTENT) / 2 * big)
    edge = (big - extent) / 2 + shift * big
    return round(min(max(edge, margin), max(margin, big - margin - extent)))


def _ink(path: str, char: str, cap_px: float) -> Image.Image:
    """The character's ink (L, 255 = ink) cropped to its bounding box, at the font size whose
    capital H is cap_px tall."""
    canvas = _drawn(_font(path, max(1, round(cap_px / _cap_ratio(path)))), char)
    box = canvas.getbbox()
    if box is None:
        raise InputError(f"{path}: draws nothing for {char!r}")
    return canvas.crop(box)


def _drawn(font: ImageFont.FreeTypeFont, char: str) -> Image.Image:
    """The character's ink (L, 255 = ink) in the middle of a canvas with room to spare."""
    side = 3 * round(font.size)
    canvas = Image.new("L", (side, side), 0)
    ImageDraw.Draw(canvas).text((side / 2, side / 2), char, font=font, fill=255, anchor="mm")
    return canvas


@lru_cache(maxsize=512)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


@lru_cache(maxsize=None)
def _cap_ratio(path: str) -> float:
    """The height of the face's capital H per pixel of font size."""
    _, top, _, bottom = _drawn(_font(path, REFERENCE_SIZE), "H").getbbox()
    return (bottom - top) / REFERENCE_SIZE


def label_row(f: GlyphFactors, *, chars: str, families: Sequence[str]) -> dict:
    """The factors, then one 0/1 column per character, the style flags and one per family:
    ready for attribute vectors (`vector --attr bold`)."""
    row = {"face": f.face.name, "family": f.face.family, "char": f.char, "copy": f.copy,
           "scale": f.scale, "shift_x": f.shift_x, "shift_y": f.shift_y,
           "rotation": f.rotation}
    row.update({char_column(c): int(f.char == c) for c in chars})
    row.update(bold=int(f.face.bold), italic=int(f.face.italic), serif=int(f.face.serif),
               mono=int(f.face.mono))
    row.update({f"family_{slug(name)}": int(f.face.family == name) for name in families})
    return row


def render_glyphs(*, chars: str = DEFAULT_CHARS, faces: Sequence[Face] | str = "matplotlib",
                  copies: int = 1, jitter: float | None = None, seed: int = 0, size: int = 64,
                  progress: Callable[[int, int, str], None] | None = None,
                  ) -> list[tuple[Image.Image, dict]]:
    """Every glyph in memory: (RGB image, labels) in the order glyph_factors gives, the labels
    as label_row makes them (labels.csv's columns without `path`)."""
    return [(image, labels) for _, image, labels in
            _glyphs(chars, faces, copies, jitter, seed, size, progress)]


def write_dataset(folder: str | os.PathLike, *, chars: str = DEFAULT_CHARS,
                  faces: Sequence[Face] | str = "matplotlib", copies: int = 1,
                  jitter: float | None = None, seed: int = 0, size: int = 64,
                  progress: Callable[[int, int, str], None] | None = None) -> Path:
    """Write every glyph as a PNG and labels.csv (path, factors, label columns) into folder."""
    from latentfx.datasets.labelled_folders import fresh_folder, save_png, write_labels

    glyphs = _glyphs(chars, faces, copies, jitter, seed, size, progress)  # checks everything
    folder = fresh_folder(folder)
    rows = []
    for f, image, labels in glyphs:
        save_png(image, folder / f.file_name)
        rows.append({"path": f.file_name, **labels})
    return write_labels(folder, rows)


def _glyphs(chars, faces, copies, jitter, seed, size, progress):
    """Checks the settings now, then yields (factors, image, labels) one glyph at a time."""
    if size < MIN_SIZE:
        raise InputError(f"--size must be at least {MIN_SIZE}, got {size}")
    factors = glyph_factors(chars=chars, faces=faces, copies=copies, jitter=jitter, seed=seed)
    chars = parse_chars(chars)
    families = list(dict.fromkeys(f.face.family for f in factors))

    def each():
        for i, f in enumerate(factors):
            yield f, render(f, size=size), label_row(f, chars=chars, families=families)
            if progress:
                progress(i + 1, len(factors), f.file_name)

    return each()
