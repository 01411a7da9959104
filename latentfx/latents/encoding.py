"""Encoding a folder of images into a latent store with a loaded model (DESIGN §2, latent
stores): scan the folder and hash every file; keep the latents of files whose content did not
change since the store this one replaces (same model, size, fit and pooled-feature recipe);
decode and fit the new or changed images in batches kept out of the model's way
(latentfx/images/batches.py) and take each one's posterior mean and pooled features
(latentfx/features/pooled.py) in one pass; skip the files that do not decode. Labels and
saving are the caller's.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from latentfx.errors import InputError, Interrupted, Skipped
from latentfx.features.pooled import RECIPE, encode_pooled
from latentfx.latents.stores import LatentStore
from latentfx.models import VAE

DEFAULT_SIZE = (128, 128)  # (width, height) for spatial models: a 4x32x32 latent per image,
                           # 20,000 images in ~330 MB
DEFAULT_BATCH = 32
# Images between handing freed memory back to the system (latentfx/runtime/memory.py).
TRIM_EVERY = 1024

Progress = Callable[[int, int, str], None]


@dataclass
class FolderEncoding:
    store: LatentStore     # every image that encoded, without labels
    found: int             # image files in the folder
    encoded: int           # newly encoded this run
    reused: int            # kept from the previous store
    dropped: int           # in the previous store, gone from the folder (or changed)
    skipped: list[Skipped] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def store_size(model: VAE, size: tuple[int, int] | None = None) -> tuple[int, int]:
    """(width, height) a folder is encoded at: the model's own size if it has one, else
    `size`, else DEFAULT_SIZE."""
    if model.native_size is not None:
        height, width = model.native_size
        return (width, height)
    return tuple(size or DEFAULT_SIZE)


def encode_folder(model: VAE, folder: str | os.PathLike, *, model_id: str,
                  size: tuple[int, int], fit: str = "crop", batch: int = DEFAULT_BATCH,
                  workers: int | None = None, previous: LatentStore | None = None,
                  progress: Progress | None = None,
                  cancel: Callable[[], bool] | None = None) -> FolderEncoding:
    """Every image under `folder` as a posterior mean, at `size` (width, height) with `fit`.
    The latents of `previous` (the store this one replaces) are reused for files with the
    same path and content when it was made with the same model, size, fit and pooled
    features; it is let go of once used (its latents are dropped), to keep one copy of them
    in memory. A previous store without pooled features (an older latentfx's) has every
    image encoded again, which adds them."""
    from latentfx.images.folders import scan_folder
    from latentfx.io.safetensors_files import file_sha256
    from latentfx.runtime.memory import release_free_memory

    root = Path(folder)
    paths, skipped = scan_folder(root)
    if not paths:
        raise InputError(f"{root}: no images found (looked for JPEG, PNG, WebP, BMP, TIFF, GIF)")

    # 1. Hash every file; reuse what the previous store already holds.
    relative = [p.relative_to(root).as_posix() for p in paths]
    hashes = []
    for i, path in enumerate(paths):
        hashes.append(file_sha256(path))
        if progress:
            progress(i + 1, len(paths), "hashing")
    notes, reuse = [], previous
    if previous is not None and not _reusable(previous, model_id, size, fit):
        previous = reuse = None
    elif previous is not None and previous.pooled_recipe != RECIPE:
        notes.append("the previous store had no pooled features (or another recipe of them): "
                     "every image was encoded again to add them")
        reuse = None
    known = {(p, h): i for i, (p, h) in enumerate(zip(reuse.paths, reuse.hashes))} \
        if reuse else {}
    todo = [i for i, key in enumerate(zip(relative, hashes)) if key not in known]

    # 2. Encode the new and changed images.
    fresh, failed = _encode(model, [paths[i] for i in todo], size, fit, batch=batch,
                            workers=workers, progress=progress, cancel=cancel)
    skipped += failed
    encoded_pairs, kept = [], []  # (latent, pooled features) per kept image
    fresh_by_index = {todo[j]: pair for j, pair in fresh.items()}
    for i, key in enumerate(zip(relative, hashes)):
        if key in known:
            j = known[key]
            encoded_pairs.append((reuse.latents[j], reuse.pooled[j]))
        elif i in fresh_by_index:
            encoded_pairs.append(fresh_by_index[i])
        else:
            continue
        kept.append(i)
    if not kept:
        raise InputError(f"{root}: none of the {len(paths)} images could be encoded")

    # 3. The store (the per-image latents go once stacked: the store is then the only copy
    # in memory while the caller saves it).
    stacked = torch.stack([z for z, _ in encoded_pairs])
    pooled = torch.stack([f for _, f in encoded_pairs])
    encoded = len(fresh)
    del encoded_pairs, fresh, fresh_by_index
    if previous is not None:
        previous.latents = previous.pooled = None  # only its paths and hashes are needed now
    release_free_memory()
    store = LatentStore(latents=stacked, paths=[relative[i] for i in kept],
                        hashes=[hashes[i] for i in kept], model_id=model_id, size=size, fit=fit,
                        skipped=[{"path": s.path, "reason": s.reason} for s in skipped],
                        folder=str(root.resolve()),  # found from anywhere later
                        pooled=pooled, pooled_recipe=RECIPE)
    dropped = len(set(zip(previous.paths, previous.hashes)) - set(zip(relative, hashes))) \
        if previous else 0
    return FolderEncoding(store, len(paths), encoded, len(kept) - encoded, dropped, skipped,
                          notes)


def _reusable(previous: LatentStore, model_id: str, size: tuple[int, int], fit: str) -> bool:
    return (previous.model_id, tuple(previous.size), previous.fit) == \
        (model_id, tuple(size), fit)


def _encode(model: VAE, paths: list[Path], size: tuple[int, int], fit: str, *, batch: int,
            workers: int | None, progress: Progress | None, cancel: Callable[[], bool] | None):
    """{position in paths: (latent, pooled features)} for the images that decode, and
    Skipped for the rest."""
    from latentfx.images.batches import decoded_batches
    from latentfx.runtime.memory import release_free_memory

    fresh, failed, done = {}, [], 0
    if not paths:
        return fresh, failed
    batches = decoded_batches(paths, size, fit, batch=batch, workers=workers,
                              device=model.device)
    with torch.inference_mode():
        for positions, images, failures in batches:
            if cancel and cancel():
                raise Interrupted(f"cancelled after {done} of {len(paths)} images; the store "
                                  f"was not changed")
            failed += [Skipped(str(paths[i]), reason) for i, reason in failures]
            if images is not None:
                means, pooled = encode_pooled(model, images)
                fresh.update(zip(positions, zip(means, pooled)))
            done += len(positions) + len(failures)
            if done % TRIM_EVERY < len(positions) + len(failures):
                release_free_memory()
            if progress:
                progress(done, len(paths), "encoding")
    return fresh, failed
