"""Batched inference that survives out-of-memory: halve the batch and retry (DESIGN §2)."""

from __future__ import annotations

from typing import Callable, Iterator, TypeVar

import torch

Out = TypeVar("Out")


def is_out_of_memory(exc: BaseException) -> bool:
    oom = getattr(torch, "OutOfMemoryError", None)
    return (oom is not None and isinstance(exc, oom)) or "out of memory" in str(exc).lower()


def halving_batches(fn: Callable[[int, int], Out], start: int, stop: int, *,
                    batch: int) -> Iterator[tuple[int, int, Out]]:
    """(first, last, fn(first, last)) for consecutive ranges [first, last) that cover
    [start, stop), `batch` long (the last one shorter).

    On out-of-memory the batch halves (down to 1, then the error stands) and the failed range
    is retried; the smaller batch is kept for the rest of the run. Lazy: the next range is
    computed only when asked for, so one batch's output is held at a time.
    """
    first = start
    while first < stop:
        last = min(stop, first + batch)
        try:
            out, failed = fn(first, last), False
        except (RuntimeError, MemoryError) as exc:
            if not is_out_of_memory(exc) or batch == 1:
                raise
            out, failed = None, True
        if failed:
            batch //= 2
            _free_cached_memory()  # outside the except block, whose traceback holds tensors
            continue
        yield first, last, out
        out = None  # not held here while the next batch computes
        first = last


def map_batches(fn: Callable[[torch.Tensor], torch.Tensor], items: torch.Tensor, *,
                batch: int, progress: Callable[[int, int, str], None] | None = None,
                message: str = "") -> torch.Tensor:
    """Apply fn to items[i:i+batch] for the whole first dimension and concatenate, halving
    the batch on out-of-memory (halving_batches)."""
    outputs, total = [], items.shape[0]
    for _, last, out in halving_batches(lambda a, b: fn(items[a:b]), 0, total, batch=batch):
        outputs.append(out)
        if progress:
            progress(last, total, message)
    return torch.cat(outputs)


def _free_cached_memory() -> None:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    elif getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        torch.mps.empty_cache()
