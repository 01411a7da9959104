"""Building blocks shared by both model families.

No normalisation layers: GroupNorm is slow on CPU and couples the statistics of an image to
its size, which a fully convolutional model that serves any resolution should not do.
Residual branches start at zero instead, so deep stacks train stably from step one
(the "ReZero"/"Fixup" idea: each block begins as the identity).
"""

from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F


def conv3x3(cin: int, cout: int, *, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1)


class ResBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = conv3x3(channels, channels)
        self.conv2 = conv3x3(channels, channels)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.silu(self.conv1(F.silu(x))))


class Downsample(nn.Module):
    """Halve H and W: a strided 3x3 conv (cheaper than conv + pooling on CPU)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = conv3x3(cin, cout, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.silu(x))


class Upsample(nn.Module):
    """Double H and W with a sub-pixel conv (Shi et al. 2016): a 1x1 conv to 4x the channels,
    then pixel_shuffle. No checkerboard from transposed convs, and the conv runs at the low
    resolution, which is what keeps the decoder fast on CPU."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout * 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(self.conv(F.silu(x)), 2)


def level(channels: int, blocks: int) -> nn.Sequential:
    return nn.Sequential(*[ResBlock(channels) for _ in range(blocks)])


class EncoderTrunk(nn.Module):
    """(B, 3, H, W) -> (B, widths[-1], H/f, W/f)."""

    def __init__(self, widths: tuple[int, ...], blocks: int):
        super().__init__()
        self.stem = conv3x3(3 * 4, widths[0])  # runs on the pixel-unshuffled image
        layers: list[nn.Module] = []
        for i, w in enumerate(widths):
            layers.append(level(w, blocks))
            if i + 1 < len(widths):
                layers.append(Downsample(w, widths[i + 1]))
        self.levels = nn.Sequential(*layers)
        self.out_channels = widths[-1]

    @property
    def stages(self) -> list[nn.Module]:
        """The levels, shallow first (the downsamplings between them left out)."""
        return list(self.levels)[::2]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pixel_unshuffle(x, 2)  # (B, 12, H/2, W/2)
        return self.levels(self.stem(x))


class DecoderTrunk(nn.Module):
    """(B, widths[-1], H/f, W/f) -> (B, 3, H, W), unbounded (the caller clamps)."""

    def __init__(self, widths: tuple[int, ...], blocks: int):
        super().__init__()
        layers: list[nn.Module] = []
        for i in reversed(range(len(widths))):
            layers.append(level(widths[i], blocks))
            if i > 0:
                layers.append(Upsample(widths[i], widths[i - 1]))
        self.levels = nn.Sequential(*layers)
        self.head = conv3x3(widths[0], 3 * 4)  # pixel_shuffle turns 12 channels into RGB at 2x
        self.in_channels = widths[-1]

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        h = self.head(F.silu(self.levels(h)))
        # Predict around mid-grey so the untrained model starts at a sensible image.
        return F.pixel_shuffle(h, 2) + 0.5  # (B, 3, H, W)
