"""Batched inference that survives out-of-memory: halve the batch and retry (DESIGN §2)."""

from __future__ import annotations

from typing import Callable

import torch


def _is_oom(exc: BaseException) -> bool:
    oom = getattr(torch, "OutOfMemoryError", None)
    return (oom is not None and isinstance(exc, oom)) or "out of memory" in str(exc).lower()


def map_batches(fn: Callable[[torch.Tensor], torch.Tensor], items: torch.Tensor, *,
                batch: int, progress: Callable[[int, int, str], None] | None = None,
                message: str = "") -> torch.Tensor:
    """Apply fn to items[i:i+batch] for the whole first dimension and concatenate.

    On out-of-memory the batch halves (down to 1, then the error stands) and the failed slice
    is retried; the smaller batch is kept for the rest of the run.
    """
    outputs, start, total = [], 0, items.shape[0]
    while start < total:
        try:
            out = fn(items[start: start + batch])
        except (RuntimeError, MemoryError) as exc:
            if not _is_oom(exc) or batch == 1:
                raise
            out = None
        if out is None:
            batch //= 2
            _free_cached_memory()  # outside the except block, whose traceback holds tensors
            continue
        outputs.append(out)
        start = min(total, start + batch)
        if progress:
            progress(start, total, message)
    return torch.cat(outputs)


def _free_cached_memory() -> None:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    elif getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        torch.mps.empty_cache()
