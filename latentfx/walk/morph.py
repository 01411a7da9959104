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
        self.frame = frame                               # (H, W) of the pictures

    @classmethod
    def between(cls, pictures: torch.Tensor, *, loop: bool) -> "Morph":
        """The morph of a path through these (K, 3, H, W) pictures (a loop's last segment
        joins the last picture to the first)."""
        height, width = pictures.shape[-2:]
        scale = min(1.0, MOTION_SIDE / max(height, width))
        grid = (max(2, round(height * scale)), max(2, round(width * scale)))
        count = len(pictures) if loop else len(pictures) - 1
        found = [correspond(pictures[s], pictures[(s + 1) % len(pictures)])
                 for s in range(count)]

        def fields(name: str) -> torch.Tensor:
            stacked = torch.stack([getattr(c, name) for c in found])
            return F.interpolate(stacked, size=grid, mode="bilinear", align_corners=False,
                                 antialias=True)

        return cls(fields("forward"), fields("backward"), [c.agreement for c in found],
                   frame=(height, width))

    def motion(self, segment: torch.Tensor, u: torch.Tensor) -> "Motion":
        """The displacement fields of a batch of frames at (segment, u) pairs."""
        u = u.to(torch.float32).reshape(-1, 1, 1, 1)
        return Motion(_source(self.forward[segment], u, self.frame),
                      _source(self.backward[segment], 1 - u, self.frame), self.frame)

    def still(self, segment: int) -> bool:
        """Whether nothing moves on this segment (its keyframes do not correspond)."""
        return bool(self.forward[segment].abs().max() == 0
                    and self.backward[segment].abs().max() == 0)


@dataclass
class Motion:
    """Where a batch of frames fetch each keyframe's content from."""

    start: torch.Tensor  # (B, 2, hm, wm): v_A, in frame pixels
    end: torch.Tensor    # (B, 2, hm, wm): v_B
    frame: tuple[int, int]

    def align(self, a: torch.Tensor, b: torch.Tensor, *, cell: float
              ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C, h, w) points that lean on a segment's start and end keyframes, each cell
        standing for `cell` x `cell` frame pixels, moved onto the frames' geometry."""
        moved_a, inside_a = self._moved(a, self.start, cell)
        moved_b, inside_b = self._moved(b, self.end, cell)
        # What one keyframe never saw, the other shows: its moved content stands in.
        return (moved_a * inside_a + moved_b * (1 - inside_a),
                moved_b * inside_b + moved_a * (1 - inside_b))

    def _moved(self, x: torch.Tensor, field: torch.Tensor, cell: float):
        h, w = x.shape[-2:]
        centres_x, centres_y = _centres(h, w, cell, x.device)
        d = _sample(field.to(x.device), centres_x, centres_y, self.frame) / cell  # (B, 2, h, w)
        d = d.permute(0, 2, 3, 1).to(x.dtype)  # (B, h, w, 2) in cells
        # 1 inside the keyframe, falling to 0 within a cell outside it.
        sx = torch.arange(w, device=x.device, dtype=x.dtype)[None, None, :] + d[..., 0]
        sy = torch.arange(h, device=x.device, dtype=x.dtype)[None, :, None] + d[..., 1]
        inside = (_edge(sx, w) * _edge(sy, h))[:, None]
        return warp(x, d), inside


def _source(field: torch.Tensor, t: torch.Tensor, frame: tuple[int, int]) -> torch.Tensor:
    """v with v(y) = -t field(y + v(y)) on field's own grid (fixed-point steps)."""
    hm, wm = field.shape[-2:]
    cx, cy = _centres(hm, wm, frame[1] / wm, field.device, cell_y=frame[0] / hm)
    v = -t * field
    for _ in range(FIXED_POINT_STEPS):
        v = -t * _sample(field, cx + v[:, 0], cy + v[:, 1], frame)
    return v


def _centres(h: int, w: int, cell: float, device, *, cell_y: float | None = None):
    """Frame-pixel coordinates of the centres of an (h, w) grid of cells, (1, h, w) each."""
    cell_y = cell if cell_y is None else cell_y
    xs = (torch.arange(w, device=device, dtype=torch.float32) + 0.5) * cell - 0.5
    ys = (torch.arange(h, device=device, dtype=torch.float32) + 0.5) * cell_y - 0.5
    return xs[None, None, :].expand(1, h, w), ys[None, :, None].expand(1, h, w)


def _sample(field: torch.Tensor, x: torch.Tensor, y: torch.Tensor,
            frame: tuple[int, int]) -> torch.Tensor:
    """field (B, 2, hm, wm), spread over the frame, at frame-pixel points (B or 1, h, w)."""
    height, width = frame
    grid = torch.stack([(2 * x + 1) / width - 1, (2 * y + 1) / height - 1], dim=-1)
    grid = grid.expand(len(field), -1, -1, -1)
    return F.grid_sample(field, grid, mode="bilinear", padding_mode="border",
                         align_corners=False)


def _edge(position: torch.Tensor, size: int) -> torch.Tensor:
    """1 for positions inside [0, size - 1], falling linearly to 0 one cell beyond."""
    beyond = torch.clamp(-position, min=0) + torch.clamp(position - (size - 1), min=0)
    return (1 - beyond).clamp(0, 1)


def resolve_morph(model: str | None, requested: str | None, *, space: str) -> str:
    """`requested` ("flow", "none" or None) checked against the model and the walk's space, or the
    default for them (latentfx.options.default_morph), read from the model file's config
    before the job loads it: InputError naming the model when it cannot morph."""
    from latentfx.models.bundled import resolve_model
    from latentfx.models.checkpoint import read_metadata
    from latentfx.models.config import ModelConfig

    if requested == "none" or space != "latent":  # a crossfade has no latents to move
        return "none"
    config = ModelConfig.from_dict(read_metadata(resolve_model(model))["config"])
    if requested is None:
        return default_morph(latent_is_picture=config.latent_is_picture, space=space)
    if not config.latent_is_picture:
        raise InputError(f"--morph flow: model {model or 'default'} is a vector model, whose "
                         f"latent is a list of numbers for the whole picture, not a picture "
                         f"whose content can be moved (its decoder already interpolates what "
                         f"the pictures show); drop --morph or give --morph none")
    return requested
