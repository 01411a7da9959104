"""Easing curves: t in [0, 1] -> [0, 1], monotone, 0 -> 0 and 1 -> 1.

They reshape the time within each segment of a walk, whatever the interpolation, so a walk
can rest on its keyframes (smooth, cosine, ...) or move at a steady rate (linear).
"""

from __future__ import annotations

import math

# Curves work on any tensor through its own methods, so this module (and the CLI's list of
# easing names) does not import torch.


def _smooth(t):  # smoothstep: zero velocity at both ends
    return t * t * (3 - 2 * t)


def _smoother(t):  # Perlin's smootherstep: zero velocity and acceleration at both ends
    return t * t * t * (t * (6 * t - 15) + 10)


def _cosine(t):
    return 0.5 - 0.5 * (math.pi * t).cos()


def _in_out_power(power: int):
    def ease(t):
        return ((2 * t) ** power / 2).where(t < 0.5, 1 - (2 - 2 * t) ** power / 2)
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


def ease(name: str, t: torch.Tensor) -> torch.Tensor:  # noqa: F821 (annotation only)
    """Apply the named easing to a float tensor of times in [0, 1]."""
    try:
        curve = EASINGS[name]
    except KeyError:
        raise ValueError(f"unknown easing {name!r}; use one of {', '.join(EASINGS)}") from None
    return curve(t.clamp(0.0, 1.0)).clamp(0.0, 1.0)
