"""Image quality metrics on float images in [0, 1]."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """Peak signal-to-noise ratio in dB for one image pair (any matching shapes)."""
    return mse_to_psnr(F.mse_loss(a.float(), b.float()).item())


def mse_to_psnr(mse: float) -> float:
    return float("inf") if mse <= 0 else 10.0 * math.log10(1.0 / mse)


def ssim(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean SSIM (Wang et al. 2004: 11x11 Gaussian window, sigma 1.5) of two (3, H, W)
    images, computed per channel and averaged. Images under 11 pixels on a side use the
    largest odd window that fits."""
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    size = min(11, *a.shape[-2:])
    size -= 1 - size % 2  # odd
    coords = torch.arange(size, dtype=torch.float64) - size // 2
    g = torch.exp(-(coords ** 2) / (2 * 1.5 ** 2))
    g = (g / g.sum()).float()
    window = (g[:, None] * g[None, :]).expand(3, 1, size, size)
    x, y = a[None].float(), b[None].float()  # (1, 3, H, W)

    def blur(t):
        return F.conv2d(t, window, groups=3)

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x ** 2
    var_y = blur(y * y) - mu_y ** 2
    cov = blur(x * y) - mu_x * mu_y
    s = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2))
    return float(s.mean())
