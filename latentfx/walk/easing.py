"""Easing curves: t in [0, 1] -> [0, 1], monotone, 0 -> 0 and 1 -> 1.

They reshape the time within each segment of a walk, whatever the interpolation, so a walk
can rest on its keyframes (smooth, cosine, ...) or move at a steady rate (linear).
"""

from __future__ import annotations

import math

import torch


def _smooth(t):  # smoothstep: zero velocity at both ends
    return t * t * (3 - 2 * t)


def _smoother(t):  # Perlin's smootherstep: zero velocity and acceleration at both ends
    return t * t * t * (t * (6 * t - 15) + 10)


def _cosine(t):
    return 0.5 - 0.5 * torch.cos(math.pi * t)


def _in_out_power(power: int):
    def ease(t):
        return torch.where(t < 0.5, (2 * t) ** power / 2, 1 - (2 - 2 * t) ** power / 2)
    return ease


EASINGS = {
    "linear": lambda t: t,
    "smooth": _smooth,
    "smoother": _smoother,
    "cosine": _cosine,
    "quad": _in_out_power(2),
    "cubic": _in_out_power(3),
    "quart": _in_out_power(4),
}


def ease(name: str, t: torch.Tensor) -> torch.Tensor:
    """Apply the named easing to a float tensor of times in [0, 1]."""
    try:
        curve = EASINGS[name]
    except KeyError:
        raise ValueError(f"unknown easing {name!r}; use one of {', '.join(EASINGS)}") from None
    return curve(t.clamp(0.0, 1.0)).clamp(0.0, 1.0)
