"""Model families behind one interface (DESIGN §2)."""

from .base import VAE
from .config import FAMILIES, ModelConfig
from .posterior import DiagonalGaussian
from .spatial import SpatialVAE
from .vector import VectorVAE


def build_model(config: ModelConfig) -> VAE:
    """A freshly initialised model for `config`."""
    families = {"vector": VectorVAE, "spatial": SpatialVAE}
    return families[config.family](config)


__all__ = ["VAE", "DiagonalGaussian", "FAMILIES", "ModelConfig", "SpatialVAE", "VectorVAE",
           "build_model"]
