"""A walk along the data: the path between keyframes bent to stay where the model's fitted
prior (a density over the encoded training images) is high.

A straight line (or great circle) between two pictures of different kinds, a circle and a
square, an A and a B, crosses the region between their clusters, where no training picture
was encoded; the decoder draws a double exposure there. Here each segment is a polyline of
POINTS points, its ends on the keyframes, whose inner points minimise

    E = (n - 1) * sum |z[i+1] - z[i]|^2  +  PULL * mean max(0, floor - log p(z[i]))

the first term keeps the path short and its points evenly spread (it alone gives the straight
line), the second lifts the points that lie where the data does not (below `floor`, the log
density of the least typical tenth of the prior's own draws) back into it. Only lifting, not
pulling to the modes: a mode of a mixture component is its mean, an average picture, not a
typical one. The path then crosses a gap between kinds of picture in a few quick steps,
often through a third real-looking one (an A becomes a T by way of an I), instead of
dwelling on a double exposure. This is the discrete form of a geodesic under a density-weighted metric
(Arvanitidis et al., "Latent space oddity", ICLR 2018; Chen et al., "Fast approximate
geodesics for deep generative models", 2019), solved with Adam from the plain path.

Frames read the polyline at their path parameter u (linear between its points), so a frame
still depends only on its place in the timeline, and a farm chunk renders the same frames.
"""

from __future__ import annotations

import torch

from latentfx.walk.interpolation import Align, KeyframePath

POINTS = 65      # per segment, ends included
PULL = 2.0       # weight of the density against the path's length (see the docstring)
FLOOR_SHARE = 0.1  # the floor: the log density of the least typical tenth of the prior's draws
ITERATIONS = 300
STEP = 0.05      # Adam's learning rate, in units of the prior's spread


class DataPath:
    """A KeyframePath whose segments are bent along a fitted prior (GaussianMixturePrior)."""

    def __init__(self, base: KeyframePath, prior, *, points: int = POINTS):
        if base.keys.dim() != 2:
            raise ValueError("a walk along the data needs a vector model's latents (K, D)")
        self.base = base
        # On the keyframes' device once; rounded, so workers on other CPUs (whose last bits
        # of Adam's steps may differ) render a farm walk's chunks along the same path.
        lines = bent_polylines(base, prior, points=points)  # (S, points, D)
        self.polylines = (lines * 1e4).round().div(1e4).to(base.keys.device)

    @property
    def segments(self) -> int:
        return self.base.segments

    def ends(self, segment: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.base.ends(segment)

    def at(self, segment: torch.Tensor, u: torch.Tensor, *, align: Align | None = None
           ) -> torch.Tensor:
        if align is not None:
            raise ValueError("a walk along the data does not morph (its latents are not "
                             "pictures)")
        lines = self.polylines
        position = u.to(torch.float64).clamp(0, 1) * (lines.shape[1] - 1)
        i = position.floor().long().clamp(max=lines.shape[1] - 2)
        t = (position - i).to(lines.device, lines.dtype).unsqueeze(1)
        segment, i = segment.to(lines.device), i.to(lines.device)
        return (1 - t) * lines[segment, i] + t * lines[segment, i + 1]


def bent_polylines(base: KeyframePath, prior, *, points: int) -> torch.Tensor:
    """(S, points, D) polylines: the plain path's segments sampled at `points` points, bent."""
    segments = base.segments
    u = torch.linspace(0, 1, points, dtype=torch.float64)
    seg = torch.arange(segments).repeat_interleave(points)
    plain = base.at(seg, u.repeat(segments)).detach().cpu().double()
    return bend_along(prior, plain.reshape(segments, points, -1))


def bend_along(prior, lines: torch.Tensor) -> torch.Tensor:
    """bend() with the prior's density and floor."""
    return bend(lines, prior.log_prob, floor=typical_floor(prior))


def typical_floor(prior, *, share: float = FLOOR_SHARE, n: int = 4096) -> float:
    """The log density below which only `share` of the prior's own draws fall: where the
    data stops."""
    draws = prior.sample(n, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return float(torch.quantile(prior.log_prob(draws), share))


def bend(lines: torch.Tensor, log_prob, *, floor: float, pull: float = PULL,
         iterations: int = ITERATIONS) -> torch.Tensor:
    """(S, M, D) polylines -> the same with their inner points moved to minimise E (module
    docstring), ends fixed. Deterministic: plain gradient steps from the given start."""
    lines = lines.detach().cpu().double()
    points, dims = lines.shape[1], lines.shape[2]
    inner = lines[:, 1:-1].clone().requires_grad_(True)
    first, last = lines[:, :1], lines[:, -1:]
    opt = torch.optim.Adam([inner], lr=STEP)
    for _ in range(iterations):
        line = torch.cat([first, inner, last], dim=1)
        length = (points - 1) * (line[:, 1:] - line[:, :-1]).pow(2).sum(-1).sum(-1)
        density = log_prob(inner.reshape(-1, dims)).reshape(len(lines), -1)
        outside = torch.relu(floor - density).mean(-1)  # nats below the floor, on average
        energy = (length + pull * outside).sum()
        opt.zero_grad()
        energy.backward()
        opt.step()
    with torch.no_grad():
        return torch.cat([first, inner, last], dim=1).float()
