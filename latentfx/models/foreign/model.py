"""ForeignVAE: a diffusers AutoencoderKL or AutoencoderTiny behind latentfx's model interface,
so that every verb treats it as one more spatial model.

It works in the normalised latent (latentfx/models/foreign/kinds.py): encode returns
(raw - shift) * scale, decode takes it back. Pictures are [0, 1] here and [-1, 1] in diffusers
(both classes: AutoencoderTiny converts to its own [0, 1] inside). The encoder and the decoder
may come from different files (`--decoder`: a TAESD decoder for the latents of a full
AutoencoderKL), since both sides speak the normalised latent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from latentfx.latents.tiling import tiled
from latentfx.models.base import VAE
from latentfx.models.config import ModelConfig
from latentfx.models.posterior import DiagonalGaussian
from latentfx.models.spatial import SpatialLatents

# A TAESD latent has no variance: its encoder is deterministic. The smallest log-variance
# DiagonalGaussian keeps (std 3e-7), so sampling it gives the mean.
DETERMINISTIC_LOGVAR = -30.0
# Pictures larger than this (pixels per side) go through in overlapping tiles whose seams are
# blended (latentfx/latents/tiling.py): an AutoencoderKL's activations grow with the picture
# (1.7 GB at 512x512 on the CPU); TAESD's are small, so it tiles only huge pictures.
TILE_PIXELS = {"AutoencoderKL": 768, "AutoencoderTiny": 2048}
TILE_OVERLAP = 64


@dataclass(frozen=True)
class Side:
    """One half of the model: the diffusers module holding it, and its latent's scale and
    shift (normalised = (raw - shift) * scale)."""

    module: nn.Module
    scale: float
    shift: float
    cls: str
    half_safe: bool = True
    # The module's float32 weights as the file holds them: a cast to float16 and back
    # rounds them (or makes infinities of the largest), so going back reads them again.
    weights: Callable[[], dict] | None = None

    def tiles(self, factor: int) -> tuple[int, int]:
        """(tile, overlap) in latent pixels: whole latent pixels, so pixel tiles line up."""
        tile = max(1, TILE_PIXELS[self.cls] // factor)
        return tile, min(tile // 2, TILE_OVERLAP // factor)


class ForeignVAE(SpatialLatents, VAE):
    is_generator = False  # as any spatial model: prior draws decode to texture, not pictures

    def __init__(self, *, encoder: Side, decoder: Side, config: ModelConfig, description: dict):
        super().__init__()
        self.config = config
        self.description = description
        # Registered as submodules (one each, or the same twice), so .to() and
        # named_modules() (inspect) see them.
        self.encoder_part = encoder.module
        self.decoder_part = decoder.module if decoder.module is not encoder.module else None
        self.sides = {"encoder": encoder, "decoder": decoder}
        self.dtype = torch.float32

    # -- the interface ----------------------------------------------------------------------

    def encode(self, x: torch.Tensor) -> DiagonalGaussian:
        x = self.pad(x)  # (B, 3, H, W) to whole latent pixels
        f = self.config.factor
        tile, overlap = self.sides["encoder"].tiles(f)
        moments = tiled(self._moments, x, tile=tile * f, overlap=overlap * f, scale=1 / f)
        mean, logvar = moments.chunk(2, dim=1)  # (B, C, H/f, W/f) x2, normalised
        return DiagonalGaussian(mean, logvar)

    def decode_raw(self, z: torch.Tensor) -> torch.Tensor:
        f = self.config.factor
        tile, overlap = self.sides["decoder"].tiles(f)
        return tiled(self._pixels, z, tile=tile, overlap=overlap, scale=f)

    def encoder_stage(self, index: int) -> nn.Module:
        """The encoder's first level at half resolution (pooled features)."""
        encoder = self.sides["encoder"].module.encoder
        if self.sides["encoder"].cls == "AutoencoderKL":
            return encoder.down_blocks[index]
        first_blocks = self.sides["encoder"].module.config.num_encoder_blocks[0]
        return encoder.layers[1 + first_blocks + index]  # the stride-2 conv after level 0

    # -- the two halves ---------------------------------------------------------------------

    def _moments(self, x: torch.Tensor) -> torch.Tensor:
        """Pictures [0, 1] -> normalised (mean, logvar) stacked on channels."""
        side = self.sides["encoder"]
        pixels = x * 2 - 1
        if side.cls == "AutoencoderKL":
            posterior = self._guarded(lambda t: side.module.encode(t).latent_dist.parameters,
                                      pixels)
            mean, logvar = posterior.chunk(2, dim=1)
            logvar = logvar + 2 * math.log(side.scale)
        else:
            mean = self._guarded(lambda t: side.module.encode(t).latents, pixels)
            logvar = torch.full_like(mean, DETERMINISTIC_LOGVAR)
        return torch.cat([(mean - side.shift) * side.scale, logvar], dim=1)

    def _pixels(self, z: torch.Tensor) -> torch.Tensor:
        """Normalised latents -> pictures around [0, 1] (unclamped)."""
        side = self.sides["decoder"]
        out = self._guarded(lambda t: side.module.decode(t).sample, z / side.scale + side.shift)
        return (out + 1) / 2

    def _guarded(self, fn, x: torch.Tensor) -> torch.Tensor:
        """fn at the model's precision, as float32. In float16 an overflow shows as NaN or
        inf (the SDXL decoder's black frames); then the model goes to float32 for good and
        the call is made again."""
        out = fn(x.to(self.dtype)).float()
        if self.dtype != torch.float32 and not torch.isfinite(out).all():
            self.use_dtype(torch.float32)
            out = fn(x.float()).float()
        return out

    @property
    def half_safe(self) -> bool:
        """Whether every side stays finite in float16 (not the SDXL VAE's)."""
        return all(side.half_safe for side in self.sides.values())

    def use_dtype(self, dtype: torch.dtype) -> None:
        back = dtype == torch.float32 and self.dtype != torch.float32
        for side in self.sides.values():
            nn.Module.to(side.module, dtype)  # (diffusers' own .to warns about upcasting)
            if back and side.weights is not None:
                side.module.load_state_dict(side.weights())
        self.dtype = dtype
