"""Model families behind one interface (DESIGN §2).

The names below load on first use (PEP 562), so that importing a light module of this
package (config, bundled, checkpoint's header reading) does not import torch."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from latentfx.models.config import FAMILIES, ModelConfig

if TYPE_CHECKING:
    from latentfx.models.base import VAE

_LAZY = {"VAE": "latentfx.models.base", "DiagonalGaussian": "latentfx.models.posterior",
         "SpatialVAE": "latentfx.models.spatial", "VectorVAE": "latentfx.models.vector"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build_model(config: ModelConfig) -> VAE:
    """A freshly initialised model for `config`."""
    from latentfx.models.spatial import SpatialVAE
    from latentfx.models.vector import VectorVAE

    families = {"vector": VectorVAE, "spatial": SpatialVAE}
    return families[config.family](config)


__all__ = ["VAE", "DiagonalGaussian", "FAMILIES", "ModelConfig", "SpatialVAE", "VectorVAE",
           "build_model"]
