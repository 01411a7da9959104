"""Batches of decoded, fitted images for a model, with decoding kept out of the model's way.

How decoding should share the machine depends on where the model runs:

- On an accelerator the CPU is idle while the model works: worker processes decode ahead
  (PyTorch's DataLoader) and the model never waits for pictures.
- On the CPU the model already uses every core. Decoding beside it takes a core away in the
  middle of a layer, and the layer's other threads wait for the one that lost it: that cost
  more than the decoding itself (the default model encoded at 0.77 of its own speed with two
  decoding processes, and at 0.83 with none). So on the CPU, threads decode each batch in the
  gap before it (all cores on decoding, then all on the model): 0.9, and big photographs,
  whose decoding outweighs the model, still decode on every core.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

# (positions in the path list, their pictures stacked (B, 3, H, W) or None when none of the
# batch decoded, [(position, reason)] for the files that did not)
Batch = tuple[list[int], "torch.Tensor | None", list[tuple[int, str]]]

ACCELERATOR_PROCESSES = 2  # decoding ahead of a GPU; the default when --workers is not given


class FittedImages:
    """Decodes and fits one image per item, in whichever thread or process asks."""

    def __init__(self, paths: Sequence[os.PathLike], size: tuple[int, int], fit: str):
        self.paths, self.size, self.fit_policy = paths, size, fit

    def __len__(self):
        return len(self.paths)

    def decode(self, i):
        """Picture i as a PIL image, a JPEG decoded at the smallest scale still covering the
        wanted size. Pillow only, no torch: safe in many threads at once. Raises BadFile."""
        from latentfx.images.loading import load_image

        return load_image(self.paths[i], at_least=self.size)

    def fit(self, picture):
        """A decoded picture at the wanted size: uint8 (height, width, 3) when it already is
        (converted with its whole batch, see collate), else float (3, height, width)."""
        from latentfx.images.loading import image_to_tensor
        from latentfx.images.resizing import fit_to

        width, height = self.size
        if picture.size == (width, height):
            return np.asarray(picture)  # nothing to resample
        return fit_to(image_to_tensor(picture), height, width, self.fit_policy)

    def load(self, i):
        return self.fit(self.decode(i))

    def __getitem__(self, i):
        """-> (i, picture, None), or (i, None, why it could not be read)."""
        return _attempt(self.load, i)


def _attempt(step: Callable, i: int):
    from latentfx.errors import BadFile

    try:
        return i, step(i), None
    except BadFile as exc:
        return i, None, exc.reason


def fitted_picture(path: os.PathLike, size: tuple[int, int], fit: str):
    """One picture as float (3, height, width), decoded and fitted exactly as in a batch (a
    query compared with encoded batches must be). Raises BadFile."""
    return _stacked([FittedImages([path], size, fit).load(0)])[0].contiguous()


def collate(items) -> Batch:
    """One stacked batch of the pictures that decoded (in a worker process: one shared-memory
    block per batch instead of one per image, and no per-image work left for the model's
    process)."""
    good = [(i, x) for i, x, _ in items if x is not None]
    failures = [(i, reason) for i, x, reason in items if x is None]
    return [i for i, _ in good], _stacked([x for _, x in good]) if good else None, failures


def _stacked(pictures: list):
    """(B, 3, H, W) float in [0, 1] from uint8 arrays and float (3, H, W) tensors. The uint8
    ones are converted in one operation, a fraction of the cost of one per picture, into the
    channels-last layout the models run in (the same values as images.image_to_tensor)."""
    import torch

    from latentfx.images.loading import frames_to_tensor

    raw = [x for x in pictures if isinstance(x, np.ndarray)]
    converted = frames_to_tensor(np.stack(raw)) if raw else None
    if len(raw) == len(pictures):
        return converted
    rest = iter(converted if converted is not None else ())
    return torch.stack([next(rest) if isinstance(x, np.ndarray) else x for x in pictures])


def decoded_batches(paths: Sequence[os.PathLike], size: tuple[int, int], fit: str, *,
                    batch: int, workers: int | None, device) -> Iterator[Batch]:
    """Batches of `paths` decoded and fitted to size=(width, height), in order.

    workers: processes decoding ahead (accelerators) or threads decoding between batches
    (CPU); None picks ACCELERATOR_PROCESSES, or one thread per core the model uses; 0 decodes
    in the calling thread.
    """
    images = FittedImages(paths, size, fit)
    if device.type == "cpu":
        yield from _between_batches(images, batch, workers)
    else:
        yield from _ahead(images, batch, ACCELERATOR_PROCESSES if workers is None else workers)


def _between_batches(images: FittedImages, batch: int, threads: int | None) -> Iterator[Batch]:
    """Threads only decode (Pillow releases the GIL while it does); the torch work of fitting
    stays in this thread, whose torch already spans the cores: torch called from each of N
    threads would start N more pools of threads."""
    import torch

    threads = torch.get_num_threads() if threads is None else threads
    with ThreadPoolExecutor(threads) if threads else contextlib.nullcontext() as pool:
        decode = pool.map if pool else map
        for start in range(0, len(images), batch):
            # The whole batch first: fitting beside decoding threads would contend for cores.
            decoded = list(decode(functools.partial(_attempt, images.decode),
                                  range(start, min(start + batch, len(images)))))
            yield collate([(i, None if picture is None else images.fit(picture), reason)
                           for i, picture, reason in decoded])


def _ahead(images: FittedImages, batch: int, processes: int) -> Iterator[Batch]:
    from torch.utils.data import DataLoader

    yield from DataLoader(images, batch_size=batch, num_workers=processes,
                          collate_fn=collate, worker_init_fn=_one_thread,
                          prefetch_factor=4 if processes else None)


def _one_thread(_worker_id: int) -> None:
    """Decoding processes resize with torch: one thread each, or they fight each other (and
    the host side of the model) for the cores."""
    import torch

    torch.set_num_threads(1)
