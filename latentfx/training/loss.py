"""The VAE objective and its KL schedule.

loss = MSE(x, x_hat) + beta_t * KL(q(z|x) || N(0, I)) / (number of pixel values)

Both terms are "per pixel value", so beta means the same thing at every image size: beta
equals 2 * sigma^2 of the Gaussian pixel noise the decoder is assumed to have (beta = 0.02
is the proper ELBO for sigma = 0.1). Larger beta: blurrier reconstructions but a smoother,
more Gaussian latent space, so walks and samples stay on the manifold. Smaller beta: sharper
reconstructions, but gaps in latent space that walks cross as ghosted blends.
beta_t ramps linearly from 0 to beta over the first `kl_warmup` steps (Bowman et al. 2016),
which lets the decoder learn to use z before the KL pulls the posterior to the prior.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from latentfx.models.posterior import DiagonalGaussian


@dataclass
class LossTerms:
    total: torch.Tensor
    recon: torch.Tensor  # MSE per pixel value (detached; stays on the device: no sync)
    kl: torch.Tensor  # nats per pixel value (detached)



def kl_weight(step: int, *, beta: float, warmup: int) -> float:
    if warmup <= 0:
        return beta
    return beta * min(1.0, step / warmup)


def vae_loss(x: torch.Tensor, recon: torch.Tensor, posterior: DiagonalGaussian, *,
             beta: float) -> LossTerms:
    mse = F.mse_loss(recon.float(), x)  # fp32 sums whatever the forward pass ran in
    kl = posterior.kl().float().mean() / x[0].numel()
    total = mse + beta * kl
    return LossTerms(total=total, recon=mse.detach(), kl=kl.detach())
