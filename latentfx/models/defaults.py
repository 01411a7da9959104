"""What a new model is when training leaves settings out, per family (`latentfx train`).

Each family reads the --latent setting its own way (vector: "D" numbers; spatial: "C:F",
channels : downsampling factor) and knows its default widths and KL weight.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

from latentfx.models.config import ModelConfig

SPATIAL_WIDTHS = (32, 64, 128, 256, 256)  # one per level; a factor of 2**k uses the first k


@dataclass(frozen=True)
class FamilyDefaults(abc.ABC):
    image_size: int  # vector: the one size the model works at; spatial: the training crop
    latent: str      # as --latent reads it
    beta: float      # the KL weight, see latentfx.training.loss

    @abc.abstractmethod
    def config(self, *, size: int, latent: str, widths: tuple[int, ...] | None,
               blocks: int) -> ModelConfig:
        """The config for these settings (widths None: the family's). Raises ValueError
        saying what does not fit."""


@dataclass(frozen=True)
class VectorDefaults(FamilyDefaults):
    # (32, 64, 128, 256) had 7.2M parameters and took hours on a 2-core CPU. Most of a
    # step's time is spent at the first level (32x32 after the stem): 16 channels there
    # instead of 32 trains 2.35x as many images a second on one core (benchmarks/
    # train_speed.py --threads 1: 104 against 44), and the bundled shapes and glyphs models,
    # trained so, reconstruct better than the 32-wide ones they replaced.
    widths: tuple[int, ...] = (16, 32, 64, 128)

    def config(self, *, size, latent, widths, blocks):
        # New vector models normalise their posterior means (BN-VAE, see VectorVAE), so the
        # encoded data sits where the prior N(0, I) draws from.
        return ModelConfig(family="vector", image_size=size, widths=widths or self.widths,
                           blocks=blocks, latent_dim=int(latent), normalize_means=True)


@dataclass(frozen=True)
class SpatialDefaults(FamilyDefaults):
    def config(self, *, size, latent, widths, blocks):
        channels, _, factor = latent.partition(":")
        factor = int(factor or 4)
        levels = factor.bit_length() - 1
        if factor < 2 or 2 ** levels != factor or levels > len(SPATIAL_WIDTHS):
            raise ValueError(f"downsampling factor must be 2, 4, 8, 16 or 32, got {factor}")
        widths = widths or SPATIAL_WIDTHS[:levels]
        if len(widths) != levels:
            raise ValueError(f"factor {factor} needs {levels} widths, got {len(widths)}")
        if size % factor:
            raise ValueError(f"the crop size must be a multiple of the factor {factor}")
        return ModelConfig(family="spatial", image_size=size, widths=widths, blocks=blocks,
                           latent_channels=int(channels))


FAMILY_DEFAULTS: dict[str, FamilyDefaults] = {
    # The vector family trades sharpness for a smooth, walkable space (a larger beta); the
    # spatial family stays close to an autoencoder for fidelity.
    # With normalised means the KL weight sets only the posterior noise: 0.1 (a decoder noise
    # sigma of 0.22 per pixel value) keeps the decoder trained on a neighbourhood of every
    # image, which is what walks and samples pass through.
    "vector": VectorDefaults(image_size=64, latent="32", beta=1e-1),
    "spatial": SpatialDefaults(image_size=96, latent="4:4", beta=1e-4),
}
