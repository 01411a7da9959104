"""Writing a generated dataset: PNGs in a fresh folder plus labels.csv (a `path` column, then
the factors and the 0/1 label columns that `encode --labels` reads)."""

from __future__ import annotations

import csv
import os
from pathlib import Path

from latentfx.errors import InputError


def fresh_folder(folder: str | os.PathLike) -> Path:
    """The folder, created; refused if it already holds anything."""
    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()):
        # Writing into a used folder would leave old images beside the new labels.csv.
        raise InputError(f"{folder}: folder is not empty; choose a new or empty folder")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def save_png(image, path: Path) -> None:
    from latentfx.io.atomic import atomic_path

    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")


def write_labels(folder: Path, rows: list[dict]) -> Path:
    """labels.csv with the rows' keys as the header, written atomically."""
    from latentfx.io.atomic import atomic_path

    labels = folder / "labels.csv"
    with atomic_path(labels) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return labels
