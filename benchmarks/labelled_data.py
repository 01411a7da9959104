"""Labelled generators for the meaning benchmark: a dataset is a small adapter.

Each adapter draws n items of a generator with known factors, (n, seed, size) -> pictures and
their label rows (one 0/1 column per label, as the generator's labels.csv has them), and
names its label groups: a group is the columns of one factor (kind_circle, kind_square, ...),
one class each, or a single 0/1 column (bold), whose two classes are "without" and "with".
The benchmark turns the rows into one class id per group and item.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from latentfx.errors import InputError

Draw = Callable[[int, int, int], tuple[list, list[dict]]]  # (n, seed, size) -> pictures, rows


@dataclass(frozen=True)
class LabelledDataset:
    name: str
    groups: dict[str, tuple[str, ...]]  # group -> its label columns, one per class
    draw: Draw
    # Groups held to the targets: reconstructions keep them (>= 95%), and their
    # attribute vectors separate held-out items (AUC >= 0.95).
    recon_targets: tuple[str, ...]
    vector_targets: tuple[str, ...]
    # How much the label classifier trains on: enough that it reads >= 95% of held-out real
    # pictures with confidence >= 0.9 in every group (26 letters in 21 faces need more).
    classifier_n: int = 3000
    classifier_epochs: int = 6

    def classes(self, group: str) -> tuple[str, ...]:
        """Class names in id order: the columns, or (not_C, C) for a single column C."""
        columns = self.groups[group]
        return (f"not_{columns[0]}", columns[0]) if len(columns) == 1 else columns

    def generate(self, n: int, *, seed: int, size: int) -> tuple[torch.Tensor, dict]:
        """(images (n, 3, size, size) float in [0, 1], {group: (n,) long class ids})."""
        pictures, rows = self.draw(n, seed, size)
        images = torch.from_numpy(np.stack([np.asarray(p.convert("RGB")) for p in pictures]))
        images = images.permute(0, 3, 1, 2).float() / 255.0
        return images, {g: class_ids(rows, self.groups[g]) for g in self.groups}


def class_ids(rows: list[dict], columns: tuple[str, ...]) -> torch.Tensor:
    """(n,) class ids of one group from label rows: the index of the column that is 1, or for
    a single column its own 0/1 value."""
    values = torch.tensor([[float(row[c]) for c in columns] for row in rows])  # (n, C)
    if len(columns) == 1:
        return (values[:, 0] > 0.5).long()
    if not torch.all((values > 0.5).sum(1) == 1):
        raise ValueError(f"label columns {', '.join(columns)} are not one-hot in every row")
    return values.argmax(1)


def _draw_shapes(n: int, seed: int, size: int) -> tuple[list, list[dict]]:
    from latentfx.datasets.shapes import factors_for, render

    factors = [factors_for(i, seed=seed) for i in range(n)]
    return [render(f, size=size) for f in factors], [f.labels for f in factors]


def _shapes() -> LabelledDataset:
    from latentfx.datasets.shapes import BACKGROUNDS, COLOURS, KINDS

    return LabelledDataset(
        name="shapes",
        groups={"kind": tuple(f"kind_{k}" for k in KINDS),
                "colour": tuple(f"colour_{c}" for c in COLOURS),
                "background": tuple(f"background_{b}" for b in BACKGROUNDS)},
        draw=_draw_shapes, recon_targets=("kind", "colour"), vector_targets=("kind", "colour"))


def _draw_glyphs(n: int, seed: int, size: int) -> tuple[list, list[dict]]:
    """n glyphs of the default characters and typefaces, jittered by `seed` (so they are not
    the pictures a model trained on unjittered glyphs, or on another seed, saw), a seeded
    choice spread over every face and character."""
    import math

    from latentfx.datasets.glyphs import (DEFAULT_CHARS, glyph_factors, label_row, parse_chars,
                                          render)

    one_each = glyph_factors(seed=seed)
    factors = glyph_factors(copies=math.ceil(n / len(one_each)), jitter=1.0, seed=seed)
    chosen = np.random.default_rng(seed).choice(len(factors), size=n, replace=False)
    factors = [factors[i] for i in chosen]
    chars = parse_chars(DEFAULT_CHARS)
    families = list(dict.fromkeys(f.face.family for f in one_each))
    return ([render(f, size=size) for f in factors],
            [label_row(f, chars=chars, families=families) for f in factors])


def _glyphs() -> LabelledDataset:
    try:
        from latentfx.datasets.glyphs import DEFAULT_CHARS, char_column, parse_chars
    except ImportError as error:
        raise InputError(f"--dataset glyphs needs latentfx.datasets.glyphs ({error})") from error
    return LabelledDataset(
        name="glyphs",
        groups={"character": tuple(char_column(c) for c in parse_chars(DEFAULT_CHARS)),
                "weight": ("bold",), "slant": ("italic",), "serif": ("serif",)},
        draw=_draw_glyphs, recon_targets=("character",),
        vector_targets=("character", "weight", "slant"), classifier_n=5000, classifier_epochs=8)


DATASETS = {"shapes": _shapes, "glyphs": _glyphs}


def labelled_dataset(name: str) -> LabelledDataset:
    if name not in DATASETS:
        raise InputError(f"--dataset {name!r}: not a labelled generator "
                         f"(choose from {', '.join(DATASETS)})")
    return DATASETS[name]()
