"""Asking a latent store about pictures that are not in it, and showing the ones that are.

A query must be encoded exactly as the store's images were (same size, same fit, posterior
mean), or its distances to them mean nothing."""

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


@torch.inference_mode()
def encode_fitted(model, pictures: torch.Tensor) -> torch.Tensor:
    """Latents (B, ...) on the CPU of pictures (B, 3, H, W) already fitted like the store's:
    the posterior mean, as `encode` stores it."""
    return model.encode(pictures.to(model.device)).mode().float().cpu()


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
