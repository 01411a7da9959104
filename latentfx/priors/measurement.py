"""Measuring a model on a set of images: their posteriors, the latent statistics, and (for a
model whose prior draws are pictures) the mixture prior fitted to them. What training does
at its end and `fit-prior` does for an older model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from latentfx.priors.mixture import GaussianMixturePrior
from latentfx.priors.statistics import LatentStatistics, latent_statistics

BATCH = 64  # images encoded together (halves by itself on out-of-memory)


@dataclass(frozen=True)
class Measurement:
    statistics: LatentStatistics
    prior: GaussianMixturePrior | None  # None for a model that is not a generator


@torch.inference_mode()
def encode_posteriors(model, count: int, pictures: Callable[[int, int], torch.Tensor], *,
                      batch: int = BATCH,
                      progress: Callable[[int, int, str], None] | None = None
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """(means, logvars), each (count, ...) float32 on the CPU, of the images that
    pictures(first, last) gives as (last - first, 3, H, W) floats in [0, 1]."""
    from latentfx.runtime.oom import halving_batches

    was_training = model.training
    model.eval()

    def encode(first: int, last: int):
        posterior = model.encode(pictures(first, last).to(model.device))
        return posterior.mean.float().cpu(), posterior.logvar.float().cpu()

    means, logvars = [], []
    for _, last, (mean, logvar) in halving_batches(encode, 0, count, batch=batch):
        means.append(mean)
        logvars.append(logvar)
        if progress:
            progress(last, count, "measuring the latent space")
    model.train(was_training)
    return torch.cat(means), torch.cat(logvars)


def measure(model, means: torch.Tensor, logvars: torch.Tensor | None = None, *,
            source: str, components: int | None = None) -> Measurement:
    """Statistics of these posteriors (logvars None: means only, as a store keeps them), and
    the mixture prior fitted to the means when the model is a generator."""
    prior = None
    if model.is_generator:
        prior = GaussianMixturePrior.fit(means.flatten(1), components=components, source=source)
    return Measurement(latent_statistics(means, logvars), prior)
