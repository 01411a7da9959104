"""Finding the images in a folder, safely and in a stable order."""

from __future__ import annotations

import os
from pathlib import Path

from latentfx.errors import InputError, Skipped
from latentfx.images.loading import is_image_name


def scan_folder(folder: str | os.PathLike) -> tuple[list[Path], list[Skipped]]:
    """All image files under `folder`, recursively, sorted by relative path.

    Symlinks that resolve outside the folder are skipped (a link out of a shared folder must
    not expose files elsewhere); hidden files and folders are ignored.
    """
    root = Path(folder)
    if not root.exists():
        raise InputError(f"{root}: no such folder")
    if not root.is_dir():
        raise InputError(f"{root}: not a folder")
    real_root = root.resolve()
    found: list[Path] = []
    skipped: list[Skipped] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if name.startswith(".") or not is_image_name(path):
                continue
            if path.is_symlink() and not path.resolve().is_relative_to(real_root):
                skipped.append(Skipped(str(path), "symlink pointing outside the folder"))
                continue
            found.append(path)
    found.sort(key=lambda p: p.relative_to(root).as_posix())
    return found, skipped
