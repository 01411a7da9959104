"""Morphs: a walk that moves what the keyframes show instead of dissolving one into the other.

A spatial latent is a small picture, so interpolating two of them blends them place by place:
a double exposure. A morph first moves each keyframe's latent towards the geometry of the
frame being drawn, then blends. At path parameter u of a segment from A to B, A's content at
p has moved to p + u F(p) (F: where A's pixels are in B, latentfx/walk/correspondence.py)
and B's at q to q + (1-u) G(q) (G: B to A); each is drawn by sampling its keyframe at the
frame's pixels, so the frame needs the displacement that leads back to the source,

    v_A(y) = -u F(y + v_A(y)),    v_B(y) = -(1-u) G(y + v_B(y)),

solved by a few fixed-point steps (exact for a pan, and off by (u |dF|)^steps otherwise:
0.125^3 of a pixel per pixel for a 1.25x zoom). The same fields move the reconstruction
residuals of --residual, so in-between frames are as sharp as the keyframes. Where a source
lies outside its keyframe (the part of B that A never saw), the other keyframe's moved
content stands in. At u = 0 nothing moves, so keyframes stay exact.

Fields live on a small motion grid (long side MOTION_SIDE) and are sampled onto whatever is
warped: latents (one cell per f x f pixels) or residuals (one cell per pixel).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from latentfx.errors import InputError
from latentfx.options import default_morph
from latentfx.video.flow import warp
from latentfx.walk.correspondence import correspond

MOTION_SIDE = 128        # long side of the grid the displacement fields are solved on
FIXED_POINT_STEPS = 3


class Morph:
    """Per segment of a path, the fields that move its keyframes' content."""

    def __init__(self, forward: torch.Tensor, backward: torch.Tensor, agreement: list[float],
                 *, frame: tuple[int, int]):
        self.forward, self.backward = forward, backward  # (S, 2, hm, wm) in frame pixels
        self.agreement = agreement                       # per segment, 0 .. 1
        self.frame = frame                               # (H, W) of the frames

    @classmethod
    def between(cls, pictures: torch.Tensor, *, frame: tuple[int, int], loop: bool) -> "Morph":
        """The morph of a path through these (K, 3, h, w) pictures (best at flow_size of the
        frames) for frames of `frame` (H, W) pixels; a loop's last segment joins the last
        picture to the first."""
        height, width = frame
        scale = min(1.0, MOTION_SIDE / max(height, width))
        grid = (max(2, round(height * scale)), max(2, round(width * scale)))
        count = len(pictures) if loop else len(pictures) - 1
        found = [correspond(pictures[s], pictures[(s + 1) % len(pictures)])
                 for s in range(count)]
        # From the pictures' pixels to the frames'.
        to_frame = torch.tensor([width / pictures.shape[-1],
                                 height / pictures.shape[-2]]).reshape(1, 2, 1, 1)

        def fields(name: str) -> torch.Tensor:
            stacked = torch.stack([getattr(c, name) for c in found]) * to_frame
            return F.interpolate(stacked, size=grid, mode="bilinear", align_corners=False,
                                 antialias=True)

        return cls(fields("forward"), fields("backward"), [c.agreement for c in found],
                   frame=frame)

    def motion(self, segment: torch.Tensor, u: torch.Tensor) -> "Motion | None":
        """The displacement fields of a batch of frames at (segment, u) pairs; None when
        nothing moves on these segments (then the frames are a plain walk's, at its cost)."""
        if not bool(self.moves[segment].any()):
            return None
        u = u.to(torch.float32).reshape(-1, 1, 1, 1)
        return Motion(_fetch(self.forward[segment], u, self.frame),
                      _fetch(self.backward[segment], 1 - u, self.frame))

    @property
    def moves(self) -> torch.Tensor:
        """(S,) bool: whether anything moves on each segment (its keyframes correspond)."""
        return (self.forward.flatten(1).abs().amax(1) > 0) | \
            (self.backward.flatten(1).abs().amax(1) > 0)


@dataclass
class Motion:
    """Where a batch of frames fetch each keyframe's content from, per side (B, 3, hm, wm):
    the displacement (dx, dy in frame pixels) to the source, and whether the keyframe saw
    that source (1 inside it, falling to 0 within a motion cell outside)."""

    start: torch.Tensor
    end: torch.Tensor

    def align(self, a: torch.Tensor, b: torch.Tensor, *, cell: float
              ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C, h, w) points that lean on a segment's start and end keyframes, each cell
        standing for `cell` x `cell` frame pixels, moved onto the frames' geometry."""
        moved_a, seen_a = _moved(a, self.start, cell)
        moved_b, seen_b = _moved(b, self.end, cell)
        # What one keyframe never saw, the other shows: its moved content stands in. (So
        # written, a point seen for sure, weight 1, stays exactly as it was moved.)
        return (seen_a * moved_a + (1 - seen_a) * moved_b,
                seen_b * moved_b + (1 - seen_b) * moved_a)


def _fetch(field: torch.Tensor, t: torch.Tensor, frame: tuple[int, int]) -> torch.Tensor:
    """(B, 3, hm, wm): v with v(y) = -t field(y + v(y)) on field's own grid (fixed-point
    steps), and whether y + v lies inside the frame."""
    height, width = frame
    hm, wm = field.shape[-2:]
    xs = (torch.arange(wm, dtype=torch.float32) + 0.5) * (width / wm) - 0.5
    ys = (torch.arange(hm, dtype=torch.float32) + 0.5) * (height / hm) - 0.5
    cx, cy = xs[None, None, :].expand(1, hm, wm), ys[None, :, None].expand(1, hm, wm)
    v = -t * field
    for _ in range(FIXED_POINT_STEPS):
        v = -t * _sample(field, cx + v[:, 0], cy + v[:, 1], frame)
    seen = _inside(cx + v[:, 0], width, width / wm) * _inside(cy + v[:, 1], height, height / hm)
    return torch.cat([v, seen[:, None]], dim=1)


def _moved(x: torch.Tensor, fetch: torch.Tensor, cell: float):
    """x (B, C, h, w) sampled where `fetch` says, and whether its keyframe saw each source
    (B, 1, h, w). The fields are resampled onto x's cells as if they covered the frame
    exactly (a padded latent's last cells, up to f-1 pixels past it, are read as its edge)."""
    # A frame that fetches from where it stands (on a keyframe, or on a segment that does
    # not move) keeps its points exactly, whatever else its batch holds.
    moving = (fetch[:, :2].flatten(1).abs().amax(1) > 0)[:, None, None, None].to(x.device)
    if not bool(moving.any()):
        return x, torch.ones_like(x[:, :1])
    f = F.interpolate(fetch.to(x.device, x.dtype), size=x.shape[-2:], mode="bilinear",
                      align_corners=False)
    # A latent cell holds f x f pixels' worth, which bilinear resampling blurs; bicubic keeps
    # more of it (+0.3 to 0.5 dB on zoom and turn). Pixels (residuals) are as good bilinear,
    # at a third of the cost at full size.
    moved = warp(x, (f[:, :2] / cell).permute(0, 2, 3, 1),
                 mode="bicubic" if cell > 1 else "bilinear")
    return torch.where(moving, moved, x), torch.where(moving, f[:, 2:], 1.0)


def _sample(field: torch.Tensor, x: torch.Tensor, y: torch.Tensor,
            frame: tuple[int, int]) -> torch.Tensor:
    """field (B, 2, hm, wm), spread over the frame, at frame-pixel points (B or 1, h, w)."""
    height, width = frame
    grid = torch.stack([(2 * x + 1) / width - 1, (2 * y + 1) / height - 1], dim=-1)
    grid = grid.expand(len(field), -1, -1, -1)
    return F.grid_sample(field, grid, mode="bilinear", padding_mode="border",
                         align_corners=False)


def _inside(position: torch.Tensor, size: int, ramp: float) -> torch.Tensor:
    """1 for positions inside [0, size - 1], falling linearly to 0 `ramp` beyond."""
    beyond = torch.clamp(-position, min=0) + torch.clamp(position - (size - 1), min=0)
    return (1 - beyond / ramp).clamp(0, 1)


def resolve_morph(model: str | None, requested: str | None, *, space: str) -> str:
    """`requested` ("flow", "none" or None) checked against the model and the walk's space, or the
    default for them (latentfx.options.default_morph), read from the model file's config
    before the job loads it: InputError naming the model when it cannot morph."""
    from latentfx.models.config import ModelConfig
    from latentfx.models.sources import model_metadata

    if requested == "none" or space != "latent":  # a crossfade has no latents to move
        return "none"
    config = ModelConfig.from_dict(model_metadata(model)["config"])
    if requested is None:
        return default_morph(latent_is_picture=config.latent_is_picture, space=space)
    if not config.latent_is_picture:
        raise InputError(f"--morph flow: model {model or 'default'} is a vector model, whose "
                         f"latent is a list of numbers for the whole picture, not a picture "
                         f"whose content can be moved (its decoder already interpolates what "
                         f"the pictures show); drop --morph or give --morph none")
    return requested
