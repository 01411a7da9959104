"""The measures of the meaning benchmark, on a label classifier's probabilities.

`probs` is {label group: (N, C) class probabilities}; `labels` is {group: (N,) class ids}.
A picture is *confident* in a group when its top class has probability >= the threshold, and
confident jointly ("all") when it is confident in every group: the joint share is what the
targets apply to, since a sample that shows a clean shape in a colour no one trained on, or
a walk midpoint whose shape is clean but whose colour is two colours, is no more data-like
for it. At a threshold of 0.9 the runner-up has at most 0.1, so a confident midpoint is one
clean picture, not a ghost of two (a pixel crossfade's midpoint is the reference: the shapes'
classifier reads one confidently in every group about 5% of the time).
"""

from __future__ import annotations

import torch

JOINT = "all"
CONFIDENCE = 0.9
SWEEP_TOLERANCE = 0.05  # a step may fall this much and still count as not decreasing
SWEEP_RISE = 0.5        # and the sweep must rise this much from its first strength to its last


def confident(probs: dict[str, torch.Tensor], threshold: float = CONFIDENCE) -> dict:
    """{group: (N,) bool} top probability >= threshold, plus JOINT: every group at once."""
    out = {group: p.max(dim=1).values >= threshold for group, p in probs.items()}
    out[JOINT] = torch.stack(list(out.values())).all(dim=0)
    return out


def confident_share(probs: dict[str, torch.Tensor], threshold: float = CONFIDENCE) -> dict:
    """{group or JOINT: share of pictures confident in it}."""
    return {group: float(c.float().mean()) for group, c in confident(probs, threshold).items()}


def accuracy(probs: dict[str, torch.Tensor], labels: dict[str, torch.Tensor]) -> dict:
    """{group: share of pictures whose top class is the true one}, plus JOINT: all correct."""
    right = {group: p.argmax(dim=1) == labels[group] for group, p in probs.items()}
    right[JOINT] = torch.stack(list(right.values())).all(dim=0)
    return {group: float(r.float().mean()) for group, r in right.items()}


def is_monotone(scores: torch.Tensor, *, tolerance: float = SWEEP_TOLERANCE,
                rise: float = SWEEP_RISE) -> torch.Tensor:
    """(B, S) a classifier's score along B sweeps of S increasing strengths -> (B,) bool.

    A sweep is monotone when no step falls by more than `tolerance` and the last strength
    scores at least `rise` above the first: the attribute comes in steadily and does come
    in. (A rank correlation would punish a sweep for jitter where the score has saturated at
    0 or 1, and reward one that barely moves.)"""
    steps = scores[:, 1:] - scores[:, :-1]  # (B, S-1)
    return (steps >= -tolerance).all(dim=1) & (scores[:, -1] - scores[:, 0] >= rise)


def monotone_share(scores: torch.Tensor, **options) -> float:
    return float(is_monotone(scores, **options).float().mean())
