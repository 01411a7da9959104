"""What every latentfx model offers, whatever its family (DESIGN §2)."""

from __future__ import annotations

import abc
import math
from typing import TYPE_CHECKING

import torch
from torch import nn

from latentfx.errors import InputError
from latentfx.models.config import ModelConfig
from latentfx.models.posterior import DiagonalGaussian
from latentfx.options import PRIORS, default_prior

if TYPE_CHECKING:
    from latentfx.priors.mixture import GaussianMixturePrior


class VAE(nn.Module, abc.ABC):
    """encode(x) -> DiagonalGaussian; decode(z) -> image in [0, 1]; latent_shape(h, w).

    Images are float tensors (B, 3, H, W) in [0, 1]. `decode_raw` is the unclamped output the
    training loss sees; `decode` clamps it for display.
    """

    config: ModelConfig
    # The density fitted to the encoded training data, kept in the checkpoint (None: the
    # model has none; `latentfx fit-prior` adds one).
    fitted_prior: GaussianMixturePrior | None = None
    # Whether latents drawn from a prior decode to pictures like the training data: a dense
    # latent's can (vector models); a spatial latent's prior draws are independent per latent
    # pixel and decode to texture noise, not pictures.
    is_generator: bool = False

    @abc.abstractmethod
    def encode(self, x: torch.Tensor) -> DiagonalGaussian:
        """q(z|x) for a batch of images."""

    @abc.abstractmethod
    def decode_raw(self, z: torch.Tensor) -> torch.Tensor:
        """The decoder's unclamped output for a batch of latents."""

    @abc.abstractmethod
    def latent_shape(self, height: int, width: int) -> tuple[int, ...]:
        """Shape of one image's latent (without the batch dimension)."""

    def encoder_stage(self, index: int) -> nn.Module:
        """The encoder's `index`-th level, shallow first (both families share the trunk):
        pooled features are taken from its output (latentfx/features/pooled.py)."""
        return self.encoder.stages[index]

    @property
    def native_size(self) -> tuple[int, int] | None:
        """(height, width) of the one size this model works at, or None when it takes any size
        (a fully convolutional model)."""
        return None

    def working_size(self, height: int, width: int) -> tuple[int, int]:
        """The size at which the model sees a picture meant for (height, width): its native
        size if it has one, else the picture's own."""
        return self.native_size or (height, width)

    @abc.abstractmethod
    def picture_size(self, latent_shape: tuple[int, ...]) -> tuple[int, int]:
        """(height, width) of the pictures latents of this shape (with or without the batch
        dimension) were encoded from, as the model saw them."""

    @abc.abstractmethod
    def fit_latent(self, z: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """(B, ...) latents encoded from pictures of another size -> latents standing for
        (height, width) pictures, of shape (B, *latent_shape(height, width))."""

    def compression(self, height: int, width: int) -> float:
        """Pixel values per latent number for an image of this size (3*H*W / size of z)."""
        return 3 * height * width / math.prod(self.latent_shape(height, width))

    def decode(self, z: torch.Tensor, size: tuple[int, int] | None = None) -> torch.Tensor:
        x = self.decode_raw(z).clamp(0.0, 1.0)
        if size is not None:
            x = x[..., : size[0], : size[1]]
        return x

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None,
                share: tuple[int, int] | None = None):
        """Training pass: sample z from q(z|x) and decode it. Returns (raw recon, posterior).
        `share`: x is rows (first, of how many) of a batch split across processes."""
        posterior = self.encode(x)
        recon = self.decode_raw(posterior.sample(generator, share=share))
        return recon[..., : x.shape[-2], : x.shape[-1]], posterior

    @torch.inference_mode()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Deterministic round trip through the posterior mean, same size as the input."""
        return self.decode(self.encode(x).mode(), size=tuple(x.shape[-2:]))

    def sample_prior(self, n: int, *, height: int | None = None, width: int | None = None,
                     generator: torch.Generator | None = None, temperature: float = 1.0,
                     prior: str | None = None) -> torch.Tensor:
        """n latents drawn from a prior, on the model's device. `prior`: "normal" is
        N(0, T^2 I); "data" the Gaussian mixture fitted to the encoded training data (T
        scales the noise within the chosen component); None: default_prior.

        Drawn on the CPU (pass a CPU generator), so a seed gives the same latents whatever
        the device."""
        choice = prior or default_prior(fitted=self.fitted_prior is not None)
        if choice not in PRIORS:
            raise InputError(f"prior must be one of {', '.join(PRIORS)}, got {choice!r}")
        if choice == "data":
            if self.fitted_prior is None:
                raise InputError("this model has no fitted prior; add one with `latentfx "
                                 "fit-prior`, or draw from N(0, I) with --prior normal")
            return self._data_draws(n, generator=generator, temperature=temperature)
        h = height or self.config.image_size
        w = width or self.config.image_size
        z = torch.randn((n, *self.latent_shape(h, w)), generator=generator)
        return (temperature * z).to(self.device)

    def _data_draws(self, n: int, *, generator, temperature: float) -> torch.Tensor:
        """n draws of the fitted prior, on the model's device."""
        return self.fitted_prior.sample(n, generator=generator,
                                        temperature=temperature).to(self.device)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
