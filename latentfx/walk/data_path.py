"""A walk along the data: every frame's latent carried onto the pictures the model draws.

A straight line (or great circle) between two pictures of different kinds, a circle and a
square, an A and a B, crosses the region between their clusters, where no training picture
was encoded; the decoder draws a double exposure there. Here each point of the plain path is
settled (VectorVAE.settled: decoded and encoded again a few times, to a latent that is the
encoding of its own picture), so the walk goes from one real-looking picture to the next and
crosses a gap between kinds in a few quick frames, often by way of a third (an A becomes a T
by way of an I), instead of dwelling on a ghost of two.

The keyframes themselves move a little when settled (a reconstruction of a reconstruction);
that shift is taken back near each keyframe, fading out by the middle of the segment, so every
walk still starts and ends exactly on its keyframes and its middle frames are fully settled
(taking it back linearly all the way cost 9 points of the measure below on shapes). Settling
is a function of the frame's latent alone, so a frame depends only on its place in the
timeline and a farm chunk renders the same frames as a local walk.

Measured (benchmarks/meaning.py, midpoints between unseen items read as one clean picture):
shapes 23% on the line, 89% along the data; glyphs 22% and 85% (settling alone: 81% and
51%, then 82% and 69% with a guided model's sharpening, before the pulls below). An earlier version bent the
path towards the fitted prior's density (52% and 26%) and took 2 to 3 s before the first
frame. The price is smoothness: where the model has no picture between two, the walk cuts
from one to the next in a frame or two rather than blending.
"""

from __future__ import annotations

import torch

from latentfx.options import DATA_PULLS
from latentfx.walk.interpolation import Align, KeyframePath

# Settling stops at the nearest fixed point of the round trip, and between two letters that is
# often a stroke of one (a lone diagonal between an A and an M) that no font draws. Pulling the
# settled latent halfway to the mean of its mixture components (the typical picture of its
# cluster: GaussianMixturePrior.pulled) and settling again lands on a picture of the kind the
# data has. Measured on 150 midpoints between unseen items (the judge of benchmarks/meaning.py):
# glyphs 65% -> 79% clean, shapes 85% -> 89%; 8 rounds of settling with no pull 69% and 87%; a
# pull of 0.7 of the way 83% and 77%; pulling before settling 71% and 78%.
# Pulling and settling twice (latentfx.options.DATA_PULLS), on 300 midpoints of each of three
# sets of unseen items (benchmarks/meaning.py's seeds 100, 200, 300): glyphs 84%, 76%, 77% ->
# 85%, 81%, 81%; shapes 86%, 83%, 82% -> 89%, 86%, 87%. Three times: 87%, 81%, 83% and 89%,
# 88%, 87%, for a third more time per frame; pulls of 0.6 or 0.7 twice helped glyphs and cost
# shapes (0.7: 72%, 69%, 70%).
PULL = 0.5


class DataPath:
    """A KeyframePath whose points are settled by `model` (a VectorVAE)."""

    def __init__(self, base: KeyframePath, model, *, pulls: int = DATA_PULLS):
        if base.keys.dim() != 2:
            raise ValueError("a walk along the data needs a vector model's latents (K, D)")
        self.base, self.model, self.pulls = base, model, pulls
        keys = base.keys.to(model.device)
        self.shift = self._carried(keys) - keys  # (K, D): what settling does to each keyframe

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
        z = self.base.at(segment, u).to(self.model.device)
        i, j = self.base.ends(segment)
        t = u.to(z.device, z.dtype).clamp(0, 1).unsqueeze(1)
        shift = taken_back(t) * self.shift[i.to(z.device)] + \
            taken_back(1 - t) * self.shift[j.to(z.device)]
        return self._carried(z) - shift

    def _carried(self, z: torch.Tensor) -> torch.Tensor:
        """z settled; with a fitted prior, then `pulls` times pulled halfway to the mean of
        the mixture components that claim it and settled again (see PULL)."""
        z = self.model.settled(z)
        prior = self.model.fitted_prior
        for _ in range(self.pulls if prior is not None else 0):
            z = self.model.settled(prior.pulled(z, PULL))
        return z


def taken_back(t: torch.Tensor) -> torch.Tensor:
    """How much of a keyframe's settling shift a frame at distance t (0..1 of the segment)
    from it takes back: all of it on the keyframe, fading smoothly to none by the middle of
    the segment, so the middle frames are settled untouched."""
    s = (2 * t).clamp(max=1)
    return 1 - s * s * (3 - 2 * s)  # 1 - smoothstep
