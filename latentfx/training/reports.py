"""What a training run shows about itself: sample and reconstruction grids, the loss curve."""

from __future__ import annotations

from pathlib import Path

import torch

from latentfx.images.grids import make_grid, save_image
from latentfx.images.metrics import mse_to_psnr
from latentfx.io.atomic import atomic_path
from latentfx.models import VAE


@torch.inference_mode()
def write_sample_grid(model: VAE, path: Path, *, seed: int, n: int = 16) -> None:
    was_training = model.training
    model.eval()
    g = torch.Generator().manual_seed(seed)
    size = model.config.image_size
    z = model.sample_prior(n, height=size, width=size, generator=g)
    save_image(make_grid(model.decode(z).cpu(), nrow=int(n ** 0.5)), path)
    model.train(was_training)


@torch.inference_mode()
def reconstruction_pairs(model: VAE, x: torch.Tensor) -> tuple[torch.Tensor, float]:
    """Originals above their reconstructions, as one grid; and the mean PSNR."""
    was_training = model.training
    model.eval()
    recon = model.reconstruct(x.to(model.device)).cpu()
    model.train(was_training)
    mse = torch.mean((recon - x) ** 2).item()
    return make_grid(torch.cat([x, recon]), nrow=x.shape[0]), mse_to_psnr(mse)


def write_loss_plot(history: list[list[float]], path: Path) -> None:
    """Loss, reconstruction PSNR and KL against step, on one PNG."""
    if not history:
        return
    import matplotlib

    matplotlib.use("Agg")  # no display on farm nodes
    import matplotlib.pyplot as plt

    steps, loss, recon, kl = zip(*history)
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2), dpi=100)
    axes[0].plot(steps, loss)
    axes[0].set(title="loss", xlabel="step", yscale="log")
    axes[1].plot(steps, [mse_to_psnr(m) for m in recon])
    axes[1].set(title="reconstruction PSNR (dB, training batch)", xlabel="step")
    axes[2].plot(steps, kl)
    axes[2].set(title="KL (nats per pixel value)", xlabel="step")
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)

