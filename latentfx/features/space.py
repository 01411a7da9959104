"""A latent store as points to compare pictures by, for `neighbors`, `degrees` and `map`.

One point per store entry, in the space `--features` names, and the same map for pictures
from outside the store, so that a query lands where it would had it been encoded with the
store:
  pooled   the store's pooled encoder statistics (latentfx/features/pooled.py), whitened over
           the store (latentfx/features/whitening.py); a query is fitted like the store's
           pictures, goes through the same forward pass and the same whitening
  latent   the flattened posterior means, compared place by place
  clip:DIR an open_clip image embedding (latentfx/features/clip.py) of the store's picture
           files and of the query's, computed each run (nothing of it is stored)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from latentfx.errors import BadFile, InputError
from latentfx.options import check_features, features_folder

Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class FeatureSpace:
    features: str         # as asked: pooled, latent or clip:DIR
    key: str              # what the points are, e.g. "pooled/1": kept graphs are filed under it
    points: np.ndarray    # (N, D) float32, one per store entry
    featurise: Callable[[list], np.ndarray]  # picture files -> (Q, D), as the entries were

    def query(self, pictures: list[str | os.PathLike]) -> np.ndarray:
        """(Q, D) points of pictures from outside the store."""
        return self.featurise(list(pictures))

    def nearest(self, queries: np.ndarray, *, k: int, metric: str = "euclidean",
                leave_out: list[set[int]] | None = None) -> list[list[tuple[int, float]]]:
        """For each query point, its k nearest entries as (index, distance), nearest first,
        without the entries in its `leave_out` set (the query itself, when it is one)."""
        from sklearn.neighbors import NearestNeighbors

        leave_out = leave_out or [set()] * len(queries)
        extra = max((len(s) for s in leave_out), default=0)
        count = min(len(self.points), k + extra)
        index = NearestNeighbors(n_neighbors=count, metric=metric).fit(self.points)
        distances, found = index.kneighbors(np.asarray(queries, dtype=np.float32))
        return [[(int(i), float(d)) for i, d in zip(row, far) if int(i) not in skip][:k]
                for row, far, skip in zip(found, distances, leave_out)]


def feature_space(store, features: str, *, model=None, folder: str | os.PathLike = "",
                  store_path: str | os.PathLike = "store", device: str = "auto",
                  progress: Progress | None = None) -> FeatureSpace:
    """The store's entries as points in the space `features` names. `model` (the store's)
    featurises queries; `folder` is where the store's picture files are now (clip:DIR
    embeds them)."""
    check_features(features)
    clip_folder = features_folder(features)
    if clip_folder is not None:
        return _clip_space(store, features, clip_folder, Path(folder), device, progress)
    if features == "latent":
        points = store.latents.reshape(len(store), -1).numpy()
        return FeatureSpace(features, "latent", points,
                            lambda files: _encoded(model, store, files)[0])
    return _pooled_space(store, model, store_path)


def _pooled_space(store, model, store_path) -> FeatureSpace:
    from latentfx.features.pooled import RECIPE
    from latentfx.features.whitening import Whitening

    if store.pooled is None or store.pooled_recipe != RECIPE:
        why = "has no pooled features (it was made by an older latentfx)" \
            if store.pooled is None else "holds pooled features of another recipe"
        raise InputError(f"{store_path}: {why}; run `latentfx encode FOLDER -o {store_path}` "
                         f"on its folder again to add them, or compare latents as before with "
                         f"--features latent")
    whiten = Whitening.fit(store.pooled.numpy())
    return FeatureSpace("pooled", f"pooled/{RECIPE['version']}", whiten(store.pooled.numpy()),
                        lambda files: whiten(_encoded(model, store, files)[1]))


def _encoded(model, store, files: list) -> tuple[np.ndarray, np.ndarray]:
    """(flattened posterior means, pooled features) of picture files, fitted like the
    store's pictures and encoded as `encode` encodes them."""
    import torch

    from latentfx.features.pooled import encode_pooled
    from latentfx.latents.queries import fitted_like

    if model is None:
        raise ValueError("featurising a picture needs the store's model")
    pictures = torch.stack([fitted_like(store, path) for path in files])
    means, pooled = encode_pooled(model, pictures)
    return means.reshape(len(files), -1).numpy(), pooled.numpy()


def _clip_space(store, features: str, clip_folder: str, images: Path, device: str,
                progress) -> FeatureSpace:
    from latentfx.features.clip import ClipEmbedder

    embedder = ClipEmbedder(clip_folder, device=device)
    try:
        points = embedder.embed([images / p for p in store.paths], progress=progress)
    except BadFile as error:
        raise InputError(f"{error}; clip:DIR embeds the store's own picture files: if the "
                         f"folder moved, say where it is now with --folder") from None
    return FeatureSpace(features, f"clip/{embedder.model_id[:16]}", points, embedder.embed)
