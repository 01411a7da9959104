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


# How far a move along a vector trusts the fitted prior's clusters to carry the item's
# reading along the vector itself: between_share ** CLUSTER_TRUST (0.99 -> 0.85, 0.9 -> 0.19,
# 0.7 -> 0.003), so only components that hold nearly all of the data's spread along the vector
# (one kind of shape each) replace the straight move there. Measured (benchmarks/meaning.py's
# sweeps, 96 items per label): a power of 4 left glyphs' character sweeps at 83%, 8 at 94%,
# 16 at 96% (97% moving straight); shapes' kind sweeps 93% at each (53% straight).
CLUSTER_TRUST = 16
# The clusters of a move are read where the data reaches along the vector, at most this many
# of its components' standard deviations past the farthest: far past the data every tight
# component's density has fallen so low that the widest one claims the latent, whatever it
# holds. Measured as above: shapes' colour sweeps 93% at 2, 96% at 4, 98% at 8 and 99% with
# no limit; glyphs' character 95%, 96%, 97% and 97%. The reach is the widest component's as
# much as the narrow ones': at 8, a wide cluster's own reach lets a far move so far past the
# narrow clusters that the wide one claims it (tests/test_vectors.py), so 4.
CLAIM_REACH = 4.0


def moved(z: torch.Tensor, direction: torch.Tensor, amounts: torch.Tensor, *,
          prior=None, clusters: bool = True) -> torch.Tensor:
    """(1, ...) latent moved by each of (n,) amounts of `direction` -> (n, ...); amount 0
    gives the item itself.

    Without `prior`, the straight move z + amount * direction. With one (a vector model's
    fitted GaussianMixturePrior) the moves stay where the encoded data is:
    - a negative amount stops where the data's reading along the direction is lowest
      (`reach_along`): an item with none of the attribute left to lose is not pushed on into
      latents no picture was encoded to, where the decoder draws a faded or broken one.
    - a move that leaves the shell the encoded data lies on (`typical_length`; or the item's
      own length, where it lies outside) is scaled back onto it, as slerp keeps a walk on it.
    - with `clusters`, the item then follows the data's clusters (`_with_clusters`): the
      features that come and go with the attribute in the data come and go with it.
    Measured (benchmarks/meaning.py's sweeps, 96 items per label, the share of monotone
    sweeps) against the first two alone: shapes' kind 53% -> 93%, colour 92% -> 96%; glyphs'
    character 97% -> 96%, slant 89% -> 94%, serif 98%, weight 100%."""
    amounts = amounts.to(z)
    size = float(direction.norm())
    if prior is None or size == 0:
        return z + amounts.reshape(-1, *[1] * (z.dim() - 1)) * direction
    unit = direction.reshape(1, -1) / size  # (1, D)
    least, most = _amount_range(z, unit, size, prior)
    kept = _on_shell(z, direction, amounts.clamp(min=least), prior)
    if not clusters:
        return kept
    return _with_clusters(z, kept, _on_shell(z, direction, amounts.clamp(least, most), prior),
                          unit, prior)


def _on_shell(z: torch.Tensor, direction: torch.Tensor, amounts: torch.Tensor,
              prior) -> torch.Tensor:
    """(1, D) -> (n, D): z + amount * direction, scaled back to the prior's shell or to z's
    own length, whichever is longer (so amount 0 is z)."""
    base = z.reshape(1, -1)
    out = base + amounts.reshape(-1, 1) * direction.reshape(1, -1)
    radius = max(prior.typical_length, float(base.norm()))
    length = out.norm(dim=1, keepdim=True)
    return out * (radius / length).clamp(max=1)


def _amount_range(z: torch.Tensor, unit: torch.Tensor, size: float,
                  prior) -> tuple[float, float]:
    """(least, most) amounts of a direction (`unit` * `size`) within the data's reach: the
    least keeps z's reading along it at or above the data's lowest (0 for an item already
    below: it is not moved further down); the most keeps it within CLAIM_REACH of the
    highest."""
    reading = float(z.reshape(-1) @ unit.reshape(-1))
    lowest, highest = prior.reach_along(unit, above=CLAIM_REACH)
    return min(0.0, (lowest - reading) / size), max(0.0, (highest - reading) / size)


def _with_clusters(z: torch.Tensor, straight: torch.Tensor, within_reach: torch.Tensor,
                   unit: torch.Tensor, prior) -> torch.Tensor:
    """(1, D) latent, (n, D) its straight moves and the same kept within the data's reach,
    (1, D) the direction at unit length -> (n, D): the moves with the item carried as its
    clusters move.

    A straight move only adds the vector. Moving a circle along "square" leaves the circle's
    own features in place, so the decoder draws a ghost, and past the squares it draws
    latents no picture was encoded to (small shapes fade out). Moving it against "circle"
    has no one destination: it lands between the three other kinds, on a blob.
    So the change is taken from the clusters instead: the mean of the mixture components
    that claim the move (read within the data's reach: CLAIM_REACH), less the mean of those
    that claim the item (`cluster_mean`), added to the item, which keeps its own offset from
    its cluster. A move that reaches the squares' cluster then is a square of the item's
    place and size, a move past it stays there, and a move away from circle lands on the
    nearest other kind.
    The clusters are trusted as far as their means hold the data's spread along the vector
    (`between_share`, CLUSTER_TRUST); the rest of the move along the vector (and of the
    shell's scaling) stays straight. A glyph model's 48 components mix bold and regular
    letters, so there the straight move keeps making a letter bolder. Each move is a function
    of its own amount (a farm chunk renders the same frames)."""
    base = z.reshape(1, -1)
    shift = prior.cluster_mean(within_reach) - prior.cluster_mean(base)  # (n, D)
    along = shift @ unit.t()  # (n, 1)
    straight_share = 1 - prior.between_share(unit) ** CLUSTER_TRUST
    return base + shift + straight_share * ((straight - base) - along * unit)


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
