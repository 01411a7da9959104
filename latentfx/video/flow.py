"""Motion alignment for temporal smoothing: before a neighbouring frame's latent is averaged
into this frame's, it is moved along the optical flow between the two frames, so smoothing
removes flicker without smearing whatever moves.

Only spatial models have latents that are pictures (C x H/f x W/f), which can be warped. The
flow is measured by OpenCV's Farneback method on grey versions of the input frames at the
latent's resolution (small, so cheap), and each warped neighbour gets a per-pixel weight
that falls off where it still disagrees with this frame after warping: occlusions, and scene
cuts, where a neighbour from the other shot must not be averaged in at all.

`warp` (moving pictures or latents by a displacement field) is shared with morphs
(latentfx/walk/morph.py).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

MISMATCH_SCALE = 20.0  # grey-level difference (of 255) at which a warped pixel's weight is 1/e
# A neighbour that agrees with the frame over less than this share (mean weight) is from
# another shot: flow can always match some pixels of unrelated pictures, so a cut is judged
# on the whole frame. Measured: pans of photos and textures 0.96-0.98, cuts 0.23-0.50.
CUT_AGREEMENT = 0.7


def guide(frame: np.ndarray, height: int, width: int) -> np.ndarray:
    """uint8 (H, W, 3) frame -> float32 (height, width) grey levels 0..255, area-averaged.
    (Farneback's flow needs the 0..255 scale: on 0..1 it finds no motion at all.)"""
    import cv2

    grey = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)
    return cv2.resize(grey, (width, height), interpolation=cv2.INTER_AREA).astype(np.float32)


def flow(centre: np.ndarray, other: np.ndarray) -> np.ndarray:
    """(h, w, 2) displacement d such that centre(y, x) ~ other(y + dy, x + dx)."""
    import cv2

    return cv2.calcOpticalFlowFarneback(centre, other, None, pyr_scale=0.5, levels=3,
                                        winsize=9, iterations=3, poly_n=5, poly_sigma=1.1,
                                        flags=0)


def warp(image: torch.Tensor, displacement, *, mode: str = "bilinear") -> torch.Tensor:
    """(B, C, h, w) sampled at (y + dy, x + dx), clamped at the border: each picture moved by
    its displacement, (h, w, 2) for all or (B, h, w, 2) each, in pixels of `image` (a numpy
    array or a tensor); `mode` as torch's grid_sample has it."""
    h, w = image.shape[-2:]
    d = torch.as_tensor(displacement).to(image.device, image.dtype)
    ys, xs = torch.meshgrid(torch.arange(h, dtype=image.dtype, device=image.device),
                            torch.arange(w, dtype=image.dtype, device=image.device),
                            indexing="ij")
    # grid_sample wants x, y in [-1, 1] across pixel centres (align_corners=True).
    gx = (xs + d[..., 0]) * 2 / max(w - 1, 1) - 1
    gy = (ys + d[..., 1]) * 2 / max(h - 1, 1) - 1
    grid = torch.stack([gx, gy], dim=-1)
    grid = (grid if grid.dim() == 4 else grid[None]).expand(len(image), -1, -1, -1)
    return F.grid_sample(image, grid, mode=mode, padding_mode="border", align_corners=True)


def aligned(latent: torch.Tensor, centre: np.ndarray, other: np.ndarray
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """A neighbour's latent (1, C, h, w) moved onto the centre frame, and a (1, 1, h, w)
    weight: 1 where the warped neighbour's guide matches the centre's, falling towards 0
    where it does not. `centre` and `other` are the two frames' guides at (h, w)."""
    d = flow(centre, other)
    moved = warp(latent, d)
    seen = warp(torch.from_numpy(other)[None, None], d)[0, 0]
    mismatch = (seen - torch.from_numpy(centre)).abs()
    weight = torch.exp(-(mismatch / MISMATCH_SCALE) ** 2)
    if weight.mean() < CUT_AGREEMENT:
        weight = torch.zeros_like(weight)
    return moved, weight[None, None].to(latent.dtype)
