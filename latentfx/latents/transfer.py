"""Material transfer: pictures read back through a model trained on something else.

A model can only say what it has seen, so encoding a picture and decoding it again redraws it
in the material of the model's training collection. `Reinterpreter` does that at the
picture's own size and blends the result with the original by a strength:

- spatial models work at full resolution, cut into tiles with blended overlaps when the
  picture is larger than one tile (memory then stays bounded whatever the size);
- vector models see a fixed square: the picture is resized to it (area-averaged, aspect
  ignored, so nothing is cut off) and the reinterpretation is brought back to the picture's
  size with an antialiased bicubic filter.

Encoding and decoding are separate steps so a caller can work on the latents in between
(a video steadies them over time).
"""

from __future__ import annotations

import torch

from latentfx.images.resizing import resize
from latentfx.latents.tiling import tiled
from latentfx.models import VAE

DEFAULT_TILE = 768     # pixels per tile side: about 1 GB of activations for the default model
DEFAULT_OVERLAP = 64   # pixels shared by neighbouring tiles, where one fades into the other
BACK_FILTER = "bicubic"  # how a vector model's square is brought back to the picture's size


class Reinterpreter:
    def __init__(self, model: VAE, *, strength: float = 1.0, tile: int = DEFAULT_TILE,
                 overlap: int = DEFAULT_OVERLAP):
        self.model, self.strength = model, strength
        # A model that takes any size is run on the picture itself, in tiles; its latents are
        # maps (a video's can be aligned by optical flow). One with a native size sees the
        # picture resized to it.
        self.spatial = model.native_size is None
        f = model.config.factor
        # Tiles start and end on latent pixels, so latent tiles line up with pixel tiles.
        self.tile = max(f, tile // f * f)
        self.overlap = min(self.tile // 2, overlap // f * f)
        self.factor = f

    @torch.inference_mode()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Float pictures (B, 3, H, W) in [0, 1] on the CPU -> latents (B, ...) on the CPU."""
        if not self.spatial:
            return self._run(lambda t: self.model.encode(t).mode(),
                             resize(x, *self.model.native_size, mode="bilinear"))
        padded = self.model.pad(x)  # to whole latent pixels first, so tiles align
        return tiled(lambda t: self._run(lambda u: self.model.encode(u).mode(), t), padded,
                     tile=self.tile, overlap=self.overlap, scale=1 / self.factor)

    @torch.inference_mode()
    def decode(self, z: torch.Tensor, *, height: int, width: int) -> torch.Tensor:
        """Latents (B, ...) -> float pictures (B, 3, height, width) in [0, 1] on the CPU."""
        if not self.spatial:
            square = self._run(self.model.decode, z)
            return resize(square, height, width, mode=BACK_FILTER).clamp(0.0, 1.0)
        f = self.factor
        out = tiled(lambda t: self._run(self.model.decode, t), z, tile=self.tile // f,
                    overlap=self.overlap // f, scale=f)
        return out[..., :height, :width]

    def blend(self, reinterpreted: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
        """strength 1: the model's picture; 0: the original; in between, a crossfade."""
        if self.strength == 1.0:
            return reinterpreted
        return torch.lerp(original, reinterpreted, self.strength)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """The whole round trip for pictures that need nothing done to their latents."""
        z = self.encode(x)
        return self.blend(self.decode(z, height=x.shape[-2], width=x.shape[-1]), x)

    def _run(self, fn, t: torch.Tensor) -> torch.Tensor:
        return fn(t.to(self.model.device)).float().cpu()
