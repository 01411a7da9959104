"""The `vector` family: the classic conv-VAE with a dense bottleneck to D numbers."""

from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from latentfx.models.base import VAE
from latentfx.models.blocks import DecoderTrunk, EncoderTrunk
from latentfx.models.config import ModelConfig
from latentfx.models.posterior import DiagonalGaussian


class VectorVAE(VAE):
    is_generator = True  # a draw of the D numbers is a whole picture

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.grid = config.image_size // config.factor  # side of the last feature map
        d = config.latent_dim
        enc_flat = config.widths[-1] * self.grid * self.grid
        dec_flat = config.dec_widths[-1] * self.grid * self.grid
        self.encoder = EncoderTrunk(config.widths, config.blocks)
        self.to_moments = nn.Linear(enc_flat, 2 * d)
        # BN-VAE (Zhu et al., "A Batch Normalized Inference Network Keeps the KL Vanishing
        # Away", 2020): the means of each batch are standardised per dimension, with no
        # learned scale, so the encoded means have mean 0 and spread 1 in every dimension by
        # construction: the aggregate posterior matches N(0, I) in its first two moments and
        # no dimension collapses. The KL weight then only sets the posterior noise. Inference
        # uses the running statistics, as any batch norm does.
        self.mean_norm = nn.BatchNorm1d(d, affine=False) if config.normalize_means else None
        self.from_latent = nn.Linear(d, dec_flat)
        self.decoder = DecoderTrunk(config.dec_widths, config.dec_blocks)

    @property
    def native_size(self) -> tuple[int, int]:
        return (self.config.image_size, self.config.image_size)

    def latent_shape(self, height: int, width: int) -> tuple[int, ...]:
        self._check_size(height, width)
        return (self.config.latent_dim,)

    def picture_size(self, latent_shape: tuple[int, ...]) -> tuple[int, int]:
        return self.native_size

    def fit_latent(self, z: torch.Tensor, height: int, width: int) -> torch.Tensor:
        # Every picture is seen at the native size, so a latent stands for any size as it is.
        return z

    def _check_size(self, height: int, width: int) -> None:
        s = self.config.image_size
        if (height, width) != (s, s):
            raise ValueError(
                f"this vector model works at {s}x{s} only, got {width}x{height}; "
                f"resize the image first (or use a spatial model for arbitrary sizes)"
            )

    def encode(self, x: torch.Tensor) -> DiagonalGaussian:
        self._check_size(*x.shape[-2:])
        h = F.silu(self.encoder(x)).flatten(1)  # (B, C * g * g)
        mean, logvar = self.to_moments(h).chunk(2, dim=1)  # (B, D) x2
        if self.mean_norm is not None:
            mean = self.mean_norm(mean)
        return DiagonalGaussian(mean, logvar)

    def decode_raw(self, z: torch.Tensor) -> torch.Tensor:
        h = self.from_latent(z)  # (B, C * g * g)
        h = h.view(z.shape[0], self.config.dec_widths[-1], self.grid, self.grid)
        return self.decoder(h)  # (B, 3, S, S)
