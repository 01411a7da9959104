"""Attribute vectors: centroid of the latents with a property minus centroid of those without
(latent arithmetic, as in Tom White's "Sampling Generative Networks"), saved with the model
id they belong to and a held-out score that says whether the attribute is captured at all."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from latentfx.errors import InputError
from latentfx.io.tagged_files import read_tagged, write_tagged

VECTOR_FORMAT = "latentfx-vector"


@dataclass
class AttributeVector:
    vector: torch.Tensor   # one latent's shape
    model_id: str
    name: str
    score: dict = field(default_factory=dict)   # held-out auc, threshold, accuracy, counts
    info: dict = field(default_factory=dict)    # how it was made

    def save(self, path: str | os.PathLike) -> Path:
        meta = {"format": VECTOR_FORMAT, "format_version": 1, "model_id": self.model_id,
                "name": self.name, "score": self.score, "info": self.info}
        return write_tagged(path, {"vector": self.vector}, meta)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "AttributeVector":
        meta, tensors = read_tagged(path, fmt=VECTOR_FORMAT, version=1, what="attribute vector",
                                    how_to_make="make one with `latentfx vector`")
        return cls(tensors["vector"], meta["model_id"], meta.get("name", Path(path).stem),
                   meta.get("score", {}), meta.get("info", {}))


def centroid_difference(latents: torch.Tensor, has: torch.Tensor) -> torch.Tensor:
    """mean(latents where has) - mean(latents where not has)."""
    if has.all() or not has.any():
        raise InputError("an attribute vector needs images both with and without the attribute")
    return latents[has].mean(0) - latents[~has].mean(0)


def balanced_centroid_difference(latents: torch.Tensor, has: torch.Tensor,
                                 others: torch.Tensor) -> torch.Tensor:
    """The centroid difference with the other attributes held fixed (plat's bias correction
    by replication): images are binned by their combination of the other attributes; within
    each bin present both with and without the attribute, take the difference of the two
    means; average those differences over the bins, weighted by bin size. A correlated
    attribute then no longer rides along with the vector."""
    codes = (others.long() * (2 ** torch.arange(others.shape[1]))).sum(1)
    diffs, sizes = [], []
    for code in codes.unique():
        in_bin = codes == code
        with_, without = in_bin & has, in_bin & ~has
        if with_.any() and without.any():
            diffs.append(latents[with_].mean(0) - latents[without].mean(0))
            sizes.append(float(in_bin.sum()))
    if not diffs:
        raise InputError("no combination of the balancing attributes has images both with "
                         "and without the attribute; balance on fewer attributes")
    weights = torch.tensor(sizes) / sum(sizes)
    return sum(w * d for w, d in zip(weights, diffs))


def moved(z: torch.Tensor, direction: torch.Tensor, amounts: torch.Tensor, *,
          prior=None) -> torch.Tensor:
    """(1, ...) latent moved by each of (n,) amounts of `direction` -> (n, ...).

    With `prior` (a vector model's fitted GaussianMixturePrior) the moves stay where the
    encoded data is, in two ways:
    - a negative amount stops where the data's reading along the direction is lowest
      (`lowest_along`): an item with none of the attribute left to lose is not pushed on into
      latents no picture was encoded to, where the decoder draws a faded or broken one (a
      square swept to -2 of the circle vector turned into a trapezoid read half as a circle).
      Positive amounts are not bounded so: adding one letter to another must outweigh the
      first letter's own features, which takes the latent past where the second's items lie.
    - a move that leaves the shell the encoded data lies on (`typical_length`) is scaled back
      onto it, as slerp keeps a walk on it.
    Measured (benchmarks/meaning.py's sweeps, 32 items per label): the shell took monotone
    colour sweeps on shapes 72% -> 86%, character sweeps on glyphs 93% -> 97%, slant 81% ->
    88%; the floor then shapes' colour 86% -> 93%, kind 48% -> 55%, glyphs' serif 84% -> 94%
    (a floor above too, at the data's highest reading, took shapes' kind to 85% but glyphs'
    character sweeps to 41%)."""
    amounts = amounts.to(z)
    if prior is not None:
        amounts = amounts.clamp(min=_least_amount(z, direction, prior))
    out = z + amounts.reshape(-1, *[1] * (z.dim() - 1)) * direction
    if prior is None:
        return out
    length = out.flatten(1).norm(dim=1).reshape(-1, *[1] * (z.dim() - 1))
    return out * (prior.typical_length / length).clamp(max=1)


def _least_amount(z: torch.Tensor, direction: torch.Tensor, prior) -> float:
    """The most negative amount of `direction` that keeps z's reading along it at or above the
    data's lowest (0 for an item already below it: it is not moved further down)."""
    size = float(direction.norm())
    if size == 0:
        return 0.0
    unit = direction.reshape(-1) / size
    reading = float(z.reshape(-1) @ unit)
    return min(0.0, (prior.lowest_along(unit) - reading) / size)


def drift(vector: torch.Tensor, latents: torch.Tensor, other: torch.Tensor) -> float:
    """How far moving one vector-length along `vector` moves along another attribute's own
    direction (its centroid difference, normalised): 0 when the two are independent."""
    direction = centroid_difference(latents, other).reshape(-1)
    direction = direction / direction.norm().clamp_min(1e-12)
    return float(vector.reshape(-1) @ direction / vector.norm().clamp_min(1e-12))


def holdout_split(count: int, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, held-out) index tensors, a seeded random split."""
    order = torch.randperm(count, generator=torch.Generator().manual_seed(seed))
    held = max(1, round(count * fraction))
    return order[held:], order[:held]


def separation_score(latents: torch.Tensor, has: torch.Tensor, vector: torch.Tensor) -> dict:
    """How well the projection onto the vector separates held-out images with the attribute
    from those without: ROC AUC, and the threshold with the best accuracy."""
    from sklearn.metrics import roc_auc_score, roc_curve

    projection = (latents.reshape(len(latents), -1) @ vector.reshape(-1)).numpy() \
        / float(vector.norm().clamp_min(1e-12))
    truth = has.numpy().astype(int)
    if truth.min() == truth.max():
        return {"auc": None, "threshold": None, "accuracy": None, "held_out": int(len(truth))}
    fpr, tpr, thresholds = roc_curve(truth, projection)
    positives, negatives = truth.sum(), len(truth) - truth.sum()
    accuracy = (tpr * positives + (1 - fpr) * negatives) / len(truth)
    best = int(accuracy.argmax())
    return {"auc": round(float(roc_auc_score(truth, projection)), 4),
            "threshold": round(float(thresholds[best]), 4) if best > 0 else None,
            "accuracy": round(float(accuracy[best]), 4), "held_out": int(len(truth))}
