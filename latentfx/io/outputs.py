"""Checks on output paths, done before any work starts."""

from __future__ import annotations

import os
from pathlib import Path

from latentfx.errors import InputError

IMAGE_OUTPUTS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}


def check_output_file(path: str | os.PathLike, *, suffixes: dict[str, str] | None = None) -> Path:
    """The output must be a file name in an existing folder, with a known extension."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: is a folder; give a file name (e.g. {path / 'out.png'})")
    if not path.parent.exists():
        raise InputError(f"{path}: folder {path.parent} does not exist; create it first")
    if suffixes is not None and path.suffix.lower() not in suffixes:
        raise InputError(f"{path}: unknown extension {path.suffix or '(none)'!r}; "
                         f"use one of {', '.join(sorted(suffixes))}")
    if not os.access(path.parent, os.W_OK):
        raise InputError(f"{path}: folder {path.parent} is not writable")
    return path


def image_format(path: str | os.PathLike) -> str:
    return IMAGE_OUTPUTS[Path(path).suffix.lower()]
