"""Fitting images to the size a model wants. Used by training and by every inference job."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from latentfx.models import VAE

RANDOM_CROP_MAX_ZOOM = 4  # random-crop keeps up to 4x the crop size of each image's short side


def resize(img: torch.Tensor, height: int, width: int, *, mode: str = "bilinear") -> torch.Tensor:
    """Antialiased resize of a float (3, h, w) or (B, 3, h, w) image (bilinear or bicubic)."""
    batch = img if img.dim() == 4 else img[None]
    out = F.interpolate(batch, size=(height, width), mode=mode, antialias=True,
                        align_corners=False)
    return out if img.dim() == 4 else out[0]


def fit_to(img: torch.Tensor, height: int, width: int, fit: str, *,
           mode: str = "bilinear") -> torch.Tensor:
    """Float (3, h, w) or (B, 3, h, w) -> (..., height, width), per policy:

    crop (or center-crop): scale to cover the frame, cut the centre.
    pad:                   scale to fit inside the frame, letterbox on black.
    stretch:               resize to the frame, ignoring the aspect ratio.
    """
    h, w = img.shape[-2:]
    if fit in ("crop", "center-crop"):
        scale = max(height / h, width / w)
        nh, nw = max(height, round(h * scale)), max(width, round(w * scale))
        img = resize(img, nh, nw, mode=mode)
        top, left = (nh - height) // 2, (nw - width) // 2
        return img[..., top: top + height, left: left + width]
    if fit == "pad":
        scale = min(height / h, width / w)
        nh, nw = min(height, max(1, round(h * scale))), min(width, max(1, round(w * scale)))
        img = resize(img, nh, nw, mode=mode)
        top, left = (height - nh) // 2, (width - nw) // 2
        return F.pad(img, (left, width - nw - left, top, height - nh - top), value=0.0)
    if fit == "stretch":
        return resize(img, height, width, mode=mode)
    raise ValueError(f"fit must be crop, pad or stretch, got {fit!r}")


def fit_square(img: torch.Tensor, *, size: int, fit: str) -> torch.Tensor:
    """Float (3, h, w) in [0, 1] -> float, per policy: center-crop or pad to a `size` square
    (see fit_to), or random-crop: keep the image for crops at sampling time (downscaled only
    if its short side exceeds RANDOM_CROP_MAX_ZOOM * size, upscaled if under `size`).
    """
    if fit != "random-crop":
        return fit_to(img, size, size, fit)
    h, w = img.shape[-2:]
    short = min(h, w)
    limit = size * RANDOM_CROP_MAX_ZOOM
    if short > limit:
        return resize(img, round(h * limit / short), round(w * limit / short))
    if short < size:
        return resize(img, max(size, round(h * size / short)), max(size, round(w * size / short)))
    return img


def limit_side(img: torch.Tensor, max_side: int | None) -> torch.Tensor:
    """Downscale so neither side exceeds max_side (None: leave as is)."""
    h, w = img.shape[-2:]
    if max_side is None or max(h, w) <= max_side:
        return img
    scale = max_side / max(h, w)
    return resize(img, max(1, round(h * scale)), max(1, round(w * scale)))


def for_model(img: torch.Tensor, model: VAE, *, fit: str = "center-crop",
              max_side: int | None = None) -> torch.Tensor:
    """What the model should see of an image: a model that takes any size gets it at its own
    size (capped at max_side); a model with a native size gets it fitted to that size."""
    if model.native_size is None:
        return limit_side(img, max_side)
    return fit_to(img, *model.native_size, fit)
