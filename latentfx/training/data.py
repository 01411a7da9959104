"""Training images: decoded once, kept in memory, augmented on the fly.

Every image is decoded once at start-up (which also finds the bad files before training
starts), resized per the fit policy, and kept as uint8. Augmentation randomness comes from a
generator seeded by (seed, epoch, position), so an epoch's batches are the same whether the
run is fresh or resumed, and the same seed gives the same data on every run.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Iterator

import torch

from latentfx.errors import InputError, Skipped
from latentfx.images.folders import scan_folder
from latentfx.images.loading import load_or_skip
from latentfx.images.resizing import fit_square, fit_to, resize


@dataclass
class TrainingImages:
    images: list[torch.Tensor]  # uint8 (3, h, w); (3, size, size) unless fit is random-crop
    names: list[str]  # relative paths, for the run summary
    skipped: list[Skipped]


def load_training_images(folder, *, size: int, fit: str,
                         progress: Callable[[int, int, str], None] | None = None
                         ) -> TrainingImages:
    paths, skipped = scan_folder(folder)
    images, names = [], []
    for i, path in enumerate(paths):
        img = load_or_skip(path, skipped)
        if img is not None:
            images.append(fit_image(img, size=size, fit=fit))
            names.append(path.relative_to(folder).as_posix())
        if progress:
            progress(i + 1, len(paths), f"reading {path.name}")
    if not images:
        raise InputError(f"{folder}: no usable images found ({len(skipped)} skipped)")
    return TrainingImages(images, names, skipped)


def fit_image(img: torch.Tensor, *, size: int, fit: str) -> torch.Tensor:
    """Float (3, h, w) -> uint8, fitted per policy; uint8 keeps the in-memory cache small."""
    return fit_square(img, size=size, fit=fit).clamp(0, 1).mul(255).round().to(torch.uint8)


def plain_view(img: torch.Tensor, *, size: int) -> torch.Tensor:
    """uint8 (3, h, w) -> float (3, size, size) in [0, 1]: a training image as the model sees
    it without augmentation (the centre square of an image kept for random crops)."""
    x = img.float().div(255.0)
    return x if x.shape[-2:] == (size, size) else fit_to(x, size, size, "center-crop")


@lru_cache(maxsize=4)
def epoch_order(n: int, *, seed: int, epoch: int) -> torch.Tensor:
    """The permutation of n images used in `epoch` (a pure function of seed and epoch)."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=g)


def random_square(img: torch.Tensor, *, size: int, g: torch.Generator) -> torch.Tensor:
    """A square crop of random side in [size, short side] at a random position."""
    h, w = img.shape[-2:]
    side = int(torch.randint(size, min(h, w) + 1, (1,), generator=g))
    top = int(torch.randint(0, h - side + 1, (1,), generator=g))
    left = int(torch.randint(0, w - side + 1, (1,), generator=g))
    return img[:, top: top + side, left: left + side]


def augment(img: torch.Tensor, *, size: int, fit: str, mode: str,
            g: torch.Generator) -> torch.Tensor:
    """uint8 (3, h, w) -> float (3, size, size) in [0, 1]."""
    if fit == "random-crop":
        img = random_square(img, size=size, g=g)  # crop the uint8 image: convert less
    x = img.float().div(255.0)
    if x.shape[-2:] != (size, size):
        x = resize(x, size, size)
    if mode in ("flip", "strong") and torch.rand(1, generator=g) < 0.5:
        x = x.flip(-1)
    if mode == "strong":
        x = torch.rot90(x, int(torch.randint(0, 4, (1,), generator=g)), dims=(-2, -1))
        x = x[torch.randperm(3, generator=g)]  # colour channel shuffle: new hues from few images
        gain = 0.75 + 0.5 * torch.rand(1, generator=g)
        bias = 0.1 * (torch.rand(1, generator=g) - 0.5)
        x = ((x - 0.5) * gain + 0.5 + bias).clamp(0, 1)  # contrast and brightness jitter
    return x.contiguous()


def batches(data: TrainingImages, *, batch: int, size: int, fit: str, mode: str, seed: int,
            start_step: int) -> Iterator[tuple[int, torch.Tensor]]:
    """Endless (step, batch) stream; step k always gets the same images and augmentations.

    Batches tile each epoch's permutation; an epoch's leftover images that do not fill a
    batch start the next batch together with the next epoch's first images.
    """
    n = len(data.images)
    step = start_step
    while True:
        items = []
        for k in range(batch):
            flat = step * batch + k  # position in the endless sequence of epochs
            epoch, pos = divmod(flat, n)
            index = int(epoch_order(n, seed=seed, epoch=epoch)[pos])
            g = torch.Generator().manual_seed((seed * 7_919 + flat) % (2 ** 63))
            items.append(augment(data.images[index], size=size, fit=fit, mode=mode, g=g))
        yield step, torch.stack(items)  # (B, 3, size, size)
        step += 1
