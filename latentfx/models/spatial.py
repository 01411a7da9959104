"""The `spatial` family: fully convolutional, latent (C, H/f, W/f), any input size."""

from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from latentfx.models.base import VAE
from latentfx.models.blocks import DecoderTrunk, EncoderTrunk, conv3x3
from latentfx.models.config import ModelConfig
from latentfx.models.posterior import DiagonalGaussian


class SpatialLatents:
    """What every model whose latent is a picture (C, H/f, W/f) shares, latentfx's own or a
    foreign autoencoder (latentfx/models/foreign/): sizes, padding and resampling, from
    `config.factor` and `config.latent_channels`."""

    config: ModelConfig

    def padded_size(self, height: int, width: int) -> tuple[int, int]:
        f = self.config.factor
        return -(-height // f) * f, -(-width // f) * f

    def latent_shape(self, height: int, width: int) -> tuple[int, ...]:
        ph, pw = self.padded_size(height, width)
        f = self.config.factor
        return (self.config.latent_channels, ph // f, pw // f)

    def picture_size(self, latent_shape: tuple[int, ...]) -> tuple[int, int]:
        # Read from the end: (..., H/f, W/f) -> the picture padded to whole latent pixels.
        f = self.config.factor
        return latent_shape[-2] * f, latent_shape[-1] * f

    def fit_latent(self, z: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """Resampled (bilinear) to the latent size of (height, width): close to encoding the
        picture at that size, since each latent pixel stands for an f x f patch."""
        target = self.latent_shape(height, width)
        if tuple(z.shape[1:]) == target:
            return z
        return F.interpolate(z, size=target[-2:], mode="bilinear", align_corners=False)

    def pad(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, 3, *padded_size(H, W)), extended at the bottom and right.

        Reflect (not zero) padding: zeros would read as a black border and leak into the
        latent; decode(..., size=) crops the padding off again. Replicate where the padding
        is wider than the picture, which reflection cannot fill."""
        h, w = x.shape[-2:]
        ph, pw = self.padded_size(h, w)
        if (ph, pw) == (h, w):
            return x
        mode = "reflect" if ph - h < h and pw - w < w else "replicate"
        return F.pad(x, (0, pw - w, 0, ph - h), mode=mode)



class SpatialVAE(SpatialLatents, VAE):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        c = config.latent_channels
        self.encoder = EncoderTrunk(config.widths, config.blocks)
        self.to_moments = conv3x3(self.encoder.out_channels, 2 * c)  # mean and logvar
        self.from_latent = conv3x3(c, config.dec_widths[-1])
        self.decoder = DecoderTrunk(config.dec_widths, config.dec_blocks)

    def encode(self, x: torch.Tensor) -> DiagonalGaussian:
        x = self.pad(x)
        mean, logvar = self.to_moments(self.encoder(x)).chunk(2, dim=1)  # (B, C, H/f, W/f) x2
        return DiagonalGaussian(mean, logvar)

    def decode_raw(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.from_latent(z))  # (B, 3, H, W)
