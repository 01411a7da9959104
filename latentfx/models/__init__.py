"""Model families behind one interface (DESIGN §2)."""

from latentfx.models.base import VAE
from latentfx.models.config import FAMILIES, ModelConfig
from latentfx.models.posterior import DiagonalGaussian
from latentfx.models.spatial import SpatialVAE
from latentfx.models.vector import VectorVAE


def build_model(config: ModelConfig) -> VAE:
    """A freshly initialised model for `config`."""
    families = {"vector": VectorVAE, "spatial": SpatialVAE}
    return families[config.family](config)


__all__ = ["VAE", "DiagonalGaussian", "FAMILIES", "ModelConfig", "SpatialVAE", "VectorVAE",
           "build_model"]
