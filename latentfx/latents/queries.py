"""Asking a latent store about pictures that are not in it, and showing the ones that are.

A query must be fitted exactly as the store's images were (same size, same fit) and then
featurised as they were (latentfx/features/space.py), or its distances to them mean
nothing."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from latentfx.errors import BadFile
from latentfx.images.batches import fitted_picture
from latentfx.latents.stores import LatentStore


def fitted_like(store: LatentStore, path: str | os.PathLike) -> torch.Tensor:
    """The picture at `path` as float (3, H, W), decoded and fitted as `encode` does."""
    return fitted_picture(path, tuple(store.size), store.fit)


def image_folder(store: LatentStore, store_path: str | os.PathLike,
                 override: str | os.PathLike | None = None) -> Path:
    """Where a store's images are: the folder given (the folder moved), else the one the
    store recorded. Stores record it absolute; older ones recorded it as typed, relative to
    wherever `encode` ran, so that is tried as it is and then beside the store file."""
    if override:
        return Path(override)
    recorded = Path(store.folder)
    if recorded.is_absolute() or recorded.is_dir():
        return recorded
    beside = Path(store_path).parent / recorded
    return beside if beside.is_dir() else recorded


def stored_picture(store: LatentStore, index: int, model, *,
                   folder: str | os.PathLike | None = None) -> torch.Tensor:
    """Entry `index` as float (3, H, W): its own file, fitted as when it was encoded, or its
    decoded latent when the file is gone or unreadable (the folder moved)."""
    path = Path(folder or store.folder) / store.paths[index]
    try:
        return fitted_like(store, path)
    except BadFile:
        width, height = store.size
        with torch.inference_mode():
            z = store.latents[index: index + 1].to(model.device)
            return model.decode(z, size=(height, width))[0].float().cpu()


def entries_of(store: LatentStore, picture: str | os.PathLike,
               folder: str | os.PathLike) -> set[int]:
    """The store's entries that are `picture` itself: the same file (its path under the
    store's image `folder`), or a file with the same bytes (a copy kept elsewhere). A picture
    that merely looks the same is not the same picture, and stays a neighbour."""
    from latentfx.io.safetensors_files import file_sha256

    digest = file_sha256(picture)
    same = {i for i, h in enumerate(store.hashes) if h == digest}
    try:
        inside = Path(picture).resolve().relative_to(Path(folder).resolve()).as_posix()
    except ValueError:  # not under the store's folder
        return same
    return same | {i for i, p in enumerate(store.paths) if p == inside}
