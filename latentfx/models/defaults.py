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
    widths: tuple[int, ...] = (32, 64, 128, 256)

    def config(self, *, size, latent, widths, blocks):
        return ModelConfig(family="vector", image_size=size, widths=widths or self.widths,
                           blocks=blocks, latent_dim=int(latent))


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
    "vector": VectorDefaults(image_size=64, latent="32", beta=2e-2),
    "spatial": SpatialDefaults(image_size=96, latent="4:4", beta=1e-4),
}
