"""Fitting images to the size a model wants. Used by training and by every inference job."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .models import VAE

RANDOM_CROP_MAX_ZOOM = 4  # random-crop keeps up to 4x the crop size of each image's short side


def resize(img: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Antialiased bilinear resize of a float (3, h, w) image."""
    return F.interpolate(img[None], size=(height, width), mode="bilinear", antialias=True,
                         align_corners=False)[0]


def fit_square(img: torch.Tensor, *, size: int, fit: str) -> torch.Tensor:
    """Float (3, h, w) in [0, 1] -> float, per policy:

    center-crop: scale the short side to `size`, cut the centre square.
    pad:         scale the long side to `size`, letterbox on black.
    random-crop: keep the image for crops at sampling time (downscaled only if its short side
                 exceeds RANDOM_CROP_MAX_ZOOM * size, upscaled if under `size`).
    """
    h, w = img.shape[-2:]
    if fit == "center-crop":
        scale = size / min(h, w)
        nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
        img = resize(img, nh, nw)
        top, left = (nh - size) // 2, (nw - size) // 2
        return img[:, top: top + size, left: left + size]
    if fit == "pad":
        scale = size / max(h, w)
        nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
        img = resize(img, nh, nw)
        top, left = (size - nh) // 2, (size - nw) // 2
        return F.pad(img, (left, size - nw - left, top, size - nh - top), value=0.0)
    if fit == "random-crop":
        short = min(h, w)
        limit = size * RANDOM_CROP_MAX_ZOOM
        if short > limit:
            return resize(img, round(h * limit / short), round(w * limit / short))
        if short < size:
            return resize(img, max(size, round(h * size / short)), max(size, round(w * size / short)))
        return img
    raise ValueError(f"fit must be center-crop, pad or random-crop, got {fit!r}")


def limit_side(img: torch.Tensor, max_side: int | None) -> torch.Tensor:
    """Downscale so neither side exceeds max_side (None: leave as is)."""
    h, w = img.shape[-2:]
    if max_side is None or max(h, w) <= max_side:
        return img
    scale = max_side / max(h, w)
    return resize(img, max(1, round(h * scale)), max(1, round(w * scale)))


def for_model(img: torch.Tensor, model: VAE, *, fit: str = "center-crop",
              max_side: int | None = None) -> torch.Tensor:
    """What the model should see of an image: spatial models take it at its own size (capped
    at max_side); vector models need exactly their training size."""
    if model.config.family == "spatial":
        return limit_side(img, max_side)
    return fit_square(img, size=model.config.image_size, fit=fit)
