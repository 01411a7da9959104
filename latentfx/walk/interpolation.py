"""Paths through latent space: lerp, slerp and Catmull-Rom splines through keyframes.

A path through K keyframes has K-1 segments (K when it loops back to the first). A point on
it is (segment s, local time u in [0, 1]); u = 0 is keyframe s, u = 1 keyframe s+1.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

INTERPOLATIONS = ("lerp", "slerp", "spline")
# (start points, end points) of a batch -> the same moved onto each frame's geometry
Align = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
PARALLEL_EPS = 1e-4  # below this sin(angle), slerp is lerp to float precision


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Straight line. a, b: (B, ...); t: (B,)."""
    t = _expand(t, a)
    return a + t * (b - a)


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Great-circle interpolation of the direction, linear interpolation of the length.

        z(t) = ((1-t)|a| + t|b|) * (sin((1-t)W) a^ + sin(tW) b^) / sin(W),  W = angle(a, b)

    Each sample is one flattened vector (a spatial latent is one point, not C*H*W of them).
    The length moves linearly from |a| to |b|, so norms stay between the keyframes' (a
    Gaussian latent's norm says how typical it is). Nearly parallel: lerp of directions, which
    is the limit. Nearly opposite: the great circle is not unique; we take the one through a
    fixed direction orthogonal to a, so the result is deterministic.
    """
    shape = a.shape
    a, b = a.reshape(len(a), -1).double(), b.reshape(len(b), -1).double()
    t = t.reshape(-1, 1).double()
    na, nb = a.norm(dim=1, keepdim=True), b.norm(dim=1, keepdim=True)
    ua, ub = a / na.clamp_min(1e-12), b / nb.clamp_min(1e-12)
    cos = (ua * ub).sum(dim=1, keepdim=True).clamp(-1.0, 1.0)
    omega = torch.arccos(cos)
    sin = torch.sin(omega)
    general = (torch.sin((1 - t) * omega) * ua + torch.sin(t * omega) * ub) / sin.clamp_min(1e-12)
    parallel = torch.nn.functional.normalize(ua + t * (ub - ua), dim=1)
    opposite = torch.cos(math.pi * t) * ua + torch.sin(math.pi * t) * _orthogonal(ua)
    direction = torch.where(sin > PARALLEL_EPS, general, torch.where(cos > 0, parallel, opposite))
    z = ((1 - t) * na + t * nb) * direction
    return z.to(torch.float32).reshape(shape)


def _orthogonal(u: torch.Tensor) -> torch.Tensor:
    """A unit vector orthogonal to each row of u: Gram-Schmidt on the axis where |u| is least."""
    axis = torch.zeros_like(u).scatter_(1, u.abs().argmin(dim=1, keepdim=True), 1.0)
    v = axis - (axis * u).sum(dim=1, keepdim=True) * u
    return torch.nn.functional.normalize(v, dim=1)


def catmull_rom(p0, p1, p2, p3, t: torch.Tensor) -> torch.Tensor:
    """Uniform Catmull-Rom segment from p1 (t=0) to p2 (t=1): passes through every keyframe
    with a continuous tangent, so the path has no kink at a keyframe."""
    t = _expand(t, p1)
    t2, t3 = t * t, t * t * t
    return 0.5 * ((2 * p1) + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t2
                  + (-p0 + 3 * p1 - 3 * p2 + p3) * t3)


class KeyframePath:
    """Keyframes (K, ...) joined by one interpolation, open or looping."""

    def __init__(self, keys: torch.Tensor, *, interp: str, loop: bool):
        if interp not in INTERPOLATIONS:
            raise ValueError(f"interp must be one of {', '.join(INTERPOLATIONS)}, got {interp!r}")
        if len(keys) < 2:
            raise ValueError("a path needs at least two keyframes")
        self.keys, self.interp, self.loop = keys, interp, loop

    @property
    def segments(self) -> int:
        return len(self.keys) if self.loop else len(self.keys) - 1

    def at(self, segment: torch.Tensor, u: torch.Tensor, *, align: Align | None = None
           ) -> torch.Tensor:
        """Points for a batch of (segment, u) pairs: (B,) long, (B,) float -> (B, ...).
        `align(a, b)` moves the points that lean on each segment's start and end keyframes
        before they are joined (a morph: latentfx/walk/morph.py); a spline's outer points go
        with the keyframe beside them."""
        k = self._key
        align = align or (lambda a, b: (a, b))
        if self.interp == "lerp":
            return lerp(*align(k(segment), k(segment + 1)), u)
        if self.interp == "slerp":
            return slerp(*align(k(segment), k(segment + 1)), u)
        p1, p2 = align(k(segment), k(segment + 1))
        p0, p3 = align(k(segment - 1), k(segment + 2))
        return catmull_rom(p0, p1, p2, p3, u)

    def _key(self, index: torch.Tensor) -> torch.Tensor:
        """Keyframes by index: wraps round on a loop; an open path's ends get mirrored
        phantom points (2*p0 - p1), so the spline leaves and enters its ends naturally."""
        n = len(self.keys)
        if self.loop:
            return self.keys[index % n]
        before, after = index < 0, index >= n
        inner = self.keys[index.clamp(0, n - 1)]
        mirrored_start = 2 * self.keys[0] - self.keys[1]
        mirrored_end = 2 * self.keys[-1] - self.keys[-2]
        shape = (-1, *([1] * (inner.dim() - 1)))
        inner = torch.where(before.reshape(shape), mirrored_start.expand_as(inner), inner)
        return torch.where(after.reshape(shape), mirrored_end.expand_as(inner), inner)

    def ends(self, segment: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Indices of the two keyframes each segment joins, for blending per-keyframe extras
        (such as reconstruction residuals) linearly along the segment."""
        n = len(self.keys)
        return segment % n, (segment + 1) % n


def _expand(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return t.reshape(-1, *([1] * (like.dim() - 1))).to(like.dtype)
