"""Image grids and PNG output."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from latentfx.images.loading import tensor_to_image
from latentfx.images.resizing import resize
from latentfx.io.atomic import atomic_path
from latentfx.io.outputs import image_format


def make_grid(images: torch.Tensor, *, nrow: int, padding: int = 2,
              pad_value: float = 1.0) -> torch.Tensor:
    """(N, 3, H, W) -> (3, H', W'), `nrow` images per row, white gutters."""
    from torchvision.utils import make_grid as tv_make_grid

    return tv_make_grid(images.clamp(0, 1), nrow=nrow, padding=padding, pad_value=pad_value)


def fit_into(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Letterbox one (3, h, w) image into (3, height, width) on white, keeping its aspect."""
    h, w = image.shape[-2:]
    scale = min(height / h, width / w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    resized = resize(image, nh, nw)
    canvas = torch.ones(3, height, width)
    top, left = (height - nh) // 2, (width - nw) // 2
    canvas[:, top: top + nh, left: left + nw] = resized.clamp(0, 1)
    return canvas


def save_image(image: torch.Tensor, path: str | os.PathLike) -> Path:
    """Write a (3, H, W) tensor in [0, 1] atomically, format by extension (PNG, JPEG, WebP)."""
    path = Path(path)
    fmt = image_format(path) if path.suffix else "PNG"
    options = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
    with atomic_path(path) as tmp:
        tensor_to_image(image).save(tmp, format=fmt, **options)
    return path
