"""The encoder's output: a diagonal Gaussian over the latent (Kingma & Welling 2013)."""

from __future__ import annotations

import torch


class DiagonalGaussian:
    """q(z|x) = N(mean, exp(logvar)), elementwise."""

    def __init__(self, mean: torch.Tensor, logvar: torch.Tensor):
        self.mean = mean
        # Clamp so exp() can neither overflow nor collapse to exactly zero variance. The clamp
        # passes gradients straight through: a plain clamp has none outside its range, so an
        # encoder that drove logvar below -30 while the KL weight was still warming up would
        # stay there for good, its KL stuck at 15 nats a dimension that nothing could lower.
        clamped = logvar.clamp(-30.0, 20.0)
        self.logvar = logvar + (clamped - logvar).detach()

    @property
    def std(self) -> torch.Tensor:
        return torch.exp(0.5 * self.logvar)

    def sample(self, generator: torch.Generator | None = None, *,
               share: tuple[int, int] | None = None) -> torch.Tensor:
        """Reparameterised sample: mean + std * eps, differentiable w.r.t. mean and logvar.

        `share` (first row, rows in all): these rows are part of a larger batch split across
        processes; the noise of the whole batch is drawn and these rows take theirs, so the
        processes together draw exactly what one process would for the whole batch."""
        first, total = share or (0, self.mean.shape[0])
        eps = torch.randn((total, *self.mean.shape[1:]), generator=generator,
                          device=self.mean.device, dtype=self.mean.dtype)
        return self.mean + self.std * eps[first: first + self.mean.shape[0]]

    def mode(self) -> torch.Tensor:
        return self.mean

    def kl(self) -> torch.Tensor:
        """KL(q || N(0, I)) summed over every latent element, one value per batch item."""
        # In float32 whatever the forward pass ran in: under fp16 autocast exp(logvar) and
        # mean^2 overflow, and bf16 sums lose about 3%.
        mean, logvar = self.mean.float(), self.logvar.float()
        kl = 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar)
        return kl.flatten(1).sum(dim=1)  # (B,)
