"""Uniform pacing: place frames at equal visual distances along each segment.

A latent path moves through the picture at an uneven rate: it lingers where the decoder's
output barely changes and jumps where it changes fast. A pre-pass renders closely spaced
points of each segment and measures how far the picture travels between them (RMS change
at full resolution: a decoder's fine texture is often what changes most, and a
smaller copy would miss it); frames are then placed at equal fractions of that distance (arc-length
reparametrisation, linear between the measured points), with the easing applied to the
distance instead of to time.
"""

from __future__ import annotations

from typing import Callable

import torch

from latentfx.runtime.oom import halving_batches

# (segment (B,), u (B,)) -> the frames (B, 3, H, W) at those points of the path
Render = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class ArcLength:
    """Per segment, the path parameter u at which a given fraction of its visual length lies."""

    def __init__(self, u: torch.Tensor, cumulative: torch.Tensor, lengths: torch.Tensor):
        self.u = u                    # (S, n+1) sample points of each segment, 0 .. 1
        self.cumulative = cumulative  # (S, n+1) normalised distance travelled, 0 .. 1
        self.lengths = lengths        # (S,) each segment's visual length (RMS change, summed)

    @classmethod
    def measure(cls, render: Render, *, segments: int, samples: int, batch: int,
                progress: Callable[[int, int, str], None] | None = None) -> "ArcLength":
        """Render samples+1 evenly spaced points of each segment, batch by batch (only one
        rendered batch is held at a time; the batch halves on out-of-memory), and sum the RMS
        change between neighbours."""
        u = torch.linspace(0.0, 1.0, samples + 1, dtype=torch.float64)
        seg = torch.arange(segments).repeat_interleave(samples + 1)
        uu = u.repeat(segments)
        steps, previous = [], None
        points = halving_batches(lambda a, b: render(seg[a:b], uu[a:b]), 0, len(seg),
                                 batch=batch)
        for _, last, images in points:
            flat = images.reshape(len(images), -1).double()
            if previous is not None:
                flat = torch.cat([previous[None], flat])
            steps.append((flat[1:] - flat[:-1]).pow(2).mean(dim=1).sqrt().cpu())
            previous = flat[-1]
            if progress:
                progress(last, len(seg), "pacing pre-pass")
        # Drop the steps that jump from one segment's end to the next one's start.
        step = torch.cat(steps).reshape(-1)
        step = torch.cat([torch.zeros(1, dtype=step.dtype), step]).reshape(segments, samples + 1)
        step = step[:, 1:]
        cumulative = torch.cat([torch.zeros(segments, 1, dtype=step.dtype), step.cumsum(1)], 1)
        total = cumulative[:, -1:]
        # A segment whose picture never changes (two equal keyframes) keeps plain timing.
        flat_segment = total.squeeze(1) <= 1e-12
        cumulative = torch.where(flat_segment[:, None], u.expand(segments, -1),
                                 cumulative / total.clamp_min(1e-12))
        return cls(u.expand(segments, -1).clone(), cumulative, total.squeeze(1))

    def parameter(self, segment: torch.Tensor, distance: torch.Tensor) -> torch.Tensor:
        """u at the given fractions of each segment's length (linear between samples)."""
        cum, u = self.cumulative[segment], self.u[segment]  # (B, n+1)
        d = distance.to(cum.dtype).clamp(0, 1)[:, None].contiguous()
        hi = torch.searchsorted(cum.contiguous(), d).clamp(1, cum.shape[1] - 1)
        lo = hi - 1
        c0, c1 = cum.gather(1, lo), cum.gather(1, hi)
        u0, u1 = u.gather(1, lo), u.gather(1, hi)
        w = ((d - c0) / (c1 - c0).clamp_min(1e-12)).clamp(0, 1)
        return (u0 + w * (u1 - u0)).squeeze(1)


class StepMeter:
    """Streams over a video's frames and reports the coefficient of variation (std / mean) of
    the RMS change between consecutive frames: 0 when every frame changes the picture by the
    same amount. Repeated (held) frames are left out: they stand still on purpose."""

    def __init__(self):
        self.previous = None
        self.count, self.total, self.total_sq = 0, 0.0, 0.0

    def update(self, frames: torch.Tensor) -> None:
        """frames: (B, ...) in display order, any dtype."""
        flat = frames.reshape(len(frames), -1).float()
        if self.previous is not None:
            flat = torch.cat([self.previous[None], flat])
        steps = (flat[1:] - flat[:-1]).pow(2).mean(dim=1).sqrt().double()
        steps = steps[steps > 0]
        self.count += len(steps)
        self.total += float(steps.sum())
        self.total_sq += float(steps.pow(2).sum())
        self.previous = flat[-1]

    @property
    def spread(self) -> float:
        if self.count < 2:
            return 0.0
        mean = self.total / self.count
        variance = max(0.0, self.total_sq / self.count - mean * mean)
        return variance ** 0.5 / mean
