"""A small CNN that reads a generator's labels off its pictures: the meaning benchmark's judge.

A full-resolution first convolution (outlines are a pixel wide), then strided ones, global
average and max pooling (the labels do not depend on where a shape sits), and one linear head
per label group. It is trained on the generator's own pictures, so every number the
benchmark reports is "what the generator would call this picture"; a mild Gaussian blur on a
share of the batches lets it read a reconstruction a little softer than the original for what
it shows (a blob stays a blob).

Mixup (Zhang et al., ICLR 2018), training on crossfades with mixed labels so that a ghost of
two pictures gets split probabilities, was tried and left out: on the shapes it cost a tenth
of the clean pictures their confidence (97% -> 86% read with >= 0.9 in every group), while
without it a crossfade's midpoint is already read confidently in every group only 5% of the
time.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

STEM = 16                      # a first conv at full resolution: outlines are a pixel wide
WIDTHS = (32, 64, 128, 128)    # then each conv halves the side: 64 px -> 4 x 4
FILE_FORMAT, FILE_VERSION = "latentfx-label-classifier", 1
BLUR_SHARE, MIN_BLUR_SIGMA, MAX_BLUR_SIGMA = 0.3, 0.3, 1.0  # in pixels at 64 px
LR, BATCH = 3e-3, 64
# What a saved classifier must have been trained with, besides its data, to be used again.
RECIPE = {"version": FILE_VERSION, "stem": STEM, "widths": list(WIDTHS), "lr": LR,
          "batch": BATCH, "blur": [BLUR_SHARE, MIN_BLUR_SIGMA, MAX_BLUR_SIGMA]}


class LabelClassifier(nn.Module):
    def __init__(self, *, classes: dict[str, int], stem: int = STEM,
                 widths: tuple[int, ...] = WIDTHS):
        super().__init__()
        layers, channels = [], 3
        for width, stride in [(stem, 1)] * bool(stem) + [(w, 2) for w in widths]:
            layers += [nn.Conv2d(channels, width, 3, stride=stride, padding=1),
                       nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
            channels = width
        self.trunk = nn.Sequential(*layers)
        # Average and max pooling: how much of a feature there is, and whether it is anywhere
        # (one corner is enough to tell a square from a circle).
        self.heads = nn.ModuleDict({g: nn.Linear(2 * channels, n) for g, n in classes.items()})

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """(B, 3, H, W) in [0, 1] -> {group: (B, C) logits}."""
        maps = self.trunk(x - 0.5)  # (B, C, h, w)
        features = torch.cat([maps.mean(dim=(2, 3)), maps.amax(dim=(2, 3))], dim=1)  # (B, 2C)
        return {g: head(features) for g, head in self.heads.items()}

    @torch.inference_mode()
    def probabilities(self, x: torch.Tensor, *, batch: int = 256) -> dict[str, torch.Tensor]:
        """(N, 3, H, W) -> {group: (N, C) class probabilities}."""
        self.eval()
        parts = [self(x[i: i + batch]) for i in range(0, len(x), batch)]
        return {g: torch.cat([p[g] for p in parts]).softmax(dim=1) for g in self.heads}


def train_classifier(images: torch.Tensor, labels: dict[str, torch.Tensor], *,
                     classes: dict[str, int], epochs: int, seed: int, batch: int = BATCH,
                     lr: float = LR) -> LabelClassifier:
    """A classifier trained on (N, 3, H, W) pictures and their {group: (N,) class ids}."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # the weights' initialisation
    model = LabelClassifier(classes=classes)
    steps = epochs * -(-len(images) // batch)
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=lr, total_steps=steps)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(images), generator=generator)
        for start in range(0, len(images), batch):
            pick = order[start: start + batch]
            logits = model(_blurred(images[pick], generator))
            loss = sum(F.cross_entropy(logits[g], labels[g][pick]) for g in classes)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
    return model.eval()


def _blurred(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A mild Gaussian blur on a seeded share of the batches."""
    from torchvision.transforms.functional import gaussian_blur

    if float(torch.rand((), generator=generator)) >= BLUR_SHARE:
        return x
    sigma = MIN_BLUR_SIGMA + (MAX_BLUR_SIGMA - MIN_BLUR_SIGMA) * float(
        torch.rand((), generator=generator))
    return gaussian_blur(x, kernel_size=5, sigma=sigma)


def save_classifier(path: str | os.PathLike, model: LabelClassifier, settings: dict) -> Path:
    """The weights, the settings it was trained with (JSON: the data, the seed, the epochs;
    "classes" {group: count} among them) and this module's RECIPE, as a tagged safetensors
    file."""
    from latentfx.io.tagged_files import write_tagged

    meta = {"format": FILE_FORMAT, "format_version": FILE_VERSION,
            "settings": {**settings, "recipe": RECIPE}}
    return write_tagged(path, model.state_dict(), meta)


def load_classifier(path: str | os.PathLike, settings: dict) -> LabelClassifier | None:
    """The classifier saved at path if it was trained with exactly these settings and this
    RECIPE, else None."""
    from latentfx.io.tagged_files import read_tagged

    meta, tensors = read_tagged(path, fmt=FILE_FORMAT, version=FILE_VERSION,
                                what="label classifier", how_to_make="give a new file name")
    if meta.get("settings") != {**settings, "recipe": RECIPE}:
        return None
    model = LabelClassifier(classes=settings["classes"])
    model.load_state_dict(tensors)
    return model.eval()
