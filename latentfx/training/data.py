"""Training images, streamed: read, decoded and augmented in DataLoader worker processes.

Start-up reads every file's bytes once, for two things that need no pixels: a cheap header
check (bad files are skipped and listed before training starts) and the collection's
fingerprint (names, sizes and content hashes). During training only the batches in flight
are decoded, so memory does not grow with the collection.

Everything random is a pure function of the seed and a position in the endless sequence of
epochs: the order of epoch e is a permutation seeded by (seed, e), and the augmentation of
the image at flat position p is seeded by (seed, p). So the same seed gives the same batches
whatever the number of worker processes, and a resumed run starts at the exact position where
the interrupted one stopped, mid-epoch included (the sampler starts at step * batch).

A file that passes the header check but fails to decode (a truncated body) is found by a
worker; it takes the next file in name order that decodes instead (deterministic: the
substitute depends only on the files) and reports the bad one with its batch.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import signal
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterator

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from latentfx.errors import BadFile, InputError, Skipped
from latentfx.images.folders import scan_folder
from latentfx.images.loading import check_image_bytes, image_to_tensor, load_image
from latentfx.images.resizing import fit_square, fit_to, resize


@dataclass
class TrainingFiles:
    """The usable files of a folder (header-checked), what was skipped, and the fingerprint."""
    folder: Path
    names: list[str]  # relative paths, sorted
    skipped: list[Skipped]
    fingerprint: str
    found_bad: dict[str, str] = field(default_factory=dict)  # name -> reason, found at decode

    def all_skipped(self) -> list[Skipped]:
        late = [Skipped(str(self.folder / name), reason) for name, reason in
                sorted(self.found_bad.items())]
        return self.skipped + late


def scan_training_files(folder, *, progress: Callable[[int, int, str], None] | None = None
                        ) -> TrainingFiles:
    """Every image file under `folder`, read once: header check and fingerprint."""
    folder = Path(folder)
    paths, skipped = scan_folder(folder)
    names, h = [], hashlib.sha256()
    for i, path in enumerate(paths):
        name = path.relative_to(folder).as_posix()
        try:
            data = _read_bytes(path)
            check_image_bytes(path, data)
        except BadFile as exc:
            skipped.append(Skipped(exc.path, exc.reason))
        else:
            names.append(name)
            h.update(f"{name}\0{len(data)}\0".encode() + hashlib.sha256(data).digest())
        if progress:
            progress(i + 1, len(paths), f"checking {path.name}")
    if not names:
        raise InputError(f"{folder}: no usable images found ({len(skipped)} skipped)")
    return TrainingFiles(folder, names, skipped, h.hexdigest()[:16])


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except PermissionError:
        raise BadFile(path, "permission denied; check the file's permissions") from None
    except OSError as exc:
        raise BadFile(path, f"cannot read ({exc.strerror or exc})") from None


def default_workers() -> int:
    """Decoding processes when --workers is not given: one core stays with the optimiser."""
    return max(0, min(8, (os.cpu_count() or 1) - 1))


class TrainingImages(Dataset):
    """Item (flat position, image index) -> (float (3, size, size), its labels, bad files met).
    `labels`: (N, L) 0/1 guide labels in the order of files.names, or None ((0,) per item)."""

    def __init__(self, files: TrainingFiles, *, size: int, fit: str, mode: str, seed: int,
                 labels: torch.Tensor | None = None):
        self.files, self.size, self.fit, self.mode, self.seed = files, size, fit, mode, seed
        self.labels = labels

    def __len__(self) -> int:
        return len(self.files.names)

    def __getitem__(self, item: tuple[int, int]):
        flat, index = item
        img, used, bad = self._decoded(index)
        g = torch.Generator().manual_seed((self.seed * 7_919 + flat) % (2 ** 63))
        labels = self.labels[used] if self.labels is not None else torch.zeros(0)
        return augment(img, size=self.size, fit=self.fit, mode=self.mode, g=g), labels, bad

    def _decoded(self, index: int) -> tuple[torch.Tensor, int, list[tuple[str, str]]]:
        """(uint8 (3, h, w) of image `index`, or of the next one that decodes; which index
        that is; the bad files met)."""
        bad = []
        n = len(self)
        for k in range(n):
            used = (index + k) % n
            name = self.files.names[used]
            try:
                img = image_to_tensor(load_image(self.files.folder / name))
            except BadFile as exc:
                bad.append((name, exc.reason))
                continue
            return fit_image(img, size=self.size, fit=self.fit), used, bad
        raise InputError(f"{self.files.folder}: none of the images could be decoded")

    def plain(self, index: int) -> torch.Tensor:
        """Image `index` as the model sees it without augmentation."""
        img, _, bad = self._decoded(index)
        self.files.found_bad.update(bad)
        return plain_view(img, size=self.size)

    def loader(self, *, batch: int, start_step: int, workers: int, pin: bool = False,
               rank: int = 0, world: int = 1
               ) -> Iterator[tuple[torch.Tensor, torch.Tensor, list]]:
        """Endless (images, labels, bad files) batches from `start_step` on, decoded by `workers` processes (0: here).
        A daemonic process (a farm worker's pool process) may not start processes of its
        own: it decodes here."""
        if multiprocessing.current_process().daemon:
            workers = 0
        sampler = StepBatches(len(self), batch=batch, seed=self.seed, start_step=start_step,
                              rank=rank, world=world)
        return iter(DataLoader(self, batch_sampler=sampler, num_workers=workers,
                               collate_fn=_collate, pin_memory=pin,
                               worker_init_fn=_one_thread if workers else None,
                               prefetch_factor=2 if workers else None))


def _collate(items):
    images, labels, bad = zip(*items)
    return torch.stack(images), torch.stack(labels), [b for found in bad for b in found]


def _one_thread(_worker_id: int) -> None:
    torch.set_num_threads(1)  # decoding processes must not fight the optimiser for cores
    # A terminal's Ctrl-C reaches the whole process group: a decoding process that died of
    # it would break the main process's wait for a batch before it could save. The main
    # process stops and shuts the decoders down itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class StepBatches(Sampler):
    """Endless batches of (flat position, image index): step k covers flat positions
    [k * batch, (k + 1) * batch) of the endless sequence of epochs, of which `rank` takes its
    share of `world`. An epoch's leftover images that do not fill a batch start the next
    batch together with the next epoch's first images."""

    def __init__(self, n: int, *, batch: int, seed: int, start_step: int, rank: int = 0,
                 world: int = 1):
        self.n, self.batch, self.seed, self.start_step = n, batch, seed, start_step
        self.lo, self.hi = rank * batch // world, (rank + 1) * batch // world

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        step = self.start_step
        while True:
            first = step * self.batch
            yield [(flat, self.index(flat)) for flat in range(first + self.lo, first + self.hi)]
            step += 1

    def index(self, flat: int) -> int:
        epoch, pos = divmod(flat, self.n)
        return int(epoch_order(self.n, seed=self.seed, epoch=epoch)[pos])


def data_position(step: int, *, batch: int, n: int) -> dict:
    """Where step `step` starts in the data: epoch and position in its order (the record)."""
    epoch, position = divmod(step * batch, n)
    return {"epoch": epoch, "position": position}


def fit_image(img: torch.Tensor, *, size: int, fit: str) -> torch.Tensor:
    """Float (3, h, w) -> uint8, fitted per policy (the augmentation crops uint8)."""
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
