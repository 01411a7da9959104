"""What a training run shows about itself: sample and reconstruction grids, the loss curve,
and at the end how its encoded training images sit against the prior (latentfx/priors/)."""

from __future__ import annotations

from pathlib import Path

import torch

from latentfx.images.grids import make_grid, save_image
from latentfx.images.metrics import mse_to_psnr
from latentfx.io.atomic import atomic_path
from latentfx.models import VAE
from latentfx.priors.measurement import Measurement


@torch.inference_mode()
def write_sample_grid(model: VAE, path: Path, *, seed: int, n: int = 16,
                      prior: str | None = None) -> None:
    """n prior draws decoded; `prior` as for VAE.sample_prior (None: the model's default)."""
    was_training = model.training
    model.eval()
    g = torch.Generator().manual_seed(seed)
    size = model.config.image_size
    z = model.sample_prior(n, height=size, width=size, generator=g, prior=prior)
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


def measure_training_images(model: VAE, data, *, source: str = "training images",
                            components: int | None = None, batch: int = 64,
                            progress=None) -> Measurement:
    """Every image of `data` (TrainingImages) once, as the model sees it unaugmented, through
    the encoder: the latent statistics and, for a generator, the mixture prior fitted to the
    encoded means (`components` as for GaussianMixturePrior.fit). Decoded a batch at a time."""
    from latentfx.priors.measurement import encode_posteriors, measure

    def pictures(first: int, last: int) -> torch.Tensor:  # (B, 3, size, size)
        return torch.stack([data.plain(i) for i in range(first, last)])

    means, logvars = encode_posteriors(model, len(data), pictures, batch=batch,
                                       progress=progress)
    return measure(model, means, logvars, source=source, components=components)


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

