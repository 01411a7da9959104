"""How this process's memory allocator treats tensor buffers.

Two opposite needs, both from glibc's allocator (elsewhere: macOS, musl, Windows, all of this
does nothing):

- Within a job, keep freed memory for reuse. Every layer's activations for a batch are tens to
  hundreds of MB, allocated and freed many times a second. By default glibc serves blocks over
  its mmap threshold with fresh mappings and hands a freed heap top back to the system, so the
  same memory is faulted in and zeroed again for every batch: on 2 CPU cores the default
  model encoded 150 images/s that way, and 220 with freed memory kept for reuse.
- Across a long job, give it back at chosen points. PyTorch's many same-sized, short-lived CPU
  buffers (one batch of pictures after another) otherwise grow the heaps without bound:
  encoding 20,000 images held ~5 GB where the latents need 0.3 GB. malloc_trim hands the free
  pages back, from the middle of the heaps too.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os

# mallopt parameters (malloc.h) and the values for tensor work: blocks under 1 GiB come from
# the heaps, and up to 1 GiB of free heap top is kept. Some glibc versions refuse an mmap
# threshold over 32 MiB (the documented maximum on 64-bit), so that is tried next. The trim threshold is
# only set once an mmap threshold was taken: setting it alone freezes the mmap threshold at
# its 128 KiB start, and every buffer over that is then faulted in again, far worse.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
KEEP_BYTES = 1 << 30
MMAP_THRESHOLDS = (KEEP_BYTES, 32 << 20)
# A user who tunes glibc's allocator by environment keeps their settings.
USER_VARIABLES = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")
USER_TUNABLES = ("glibc.malloc.mmap_threshold", "glibc.malloc.trim_threshold")


@functools.lru_cache(maxsize=1)
def _glibc():
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        return libc if libc is not None and hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


@functools.lru_cache(maxsize=1)
def keep_freed_memory_for_reuse() -> bool:
    """Once per process, before tensor work: stop glibc from unmapping and re-faulting batch
    buffers. -> whether the allocator was changed."""
    libc = _glibc()
    if libc is None or _user_tuned():
        return False
    if not any(libc.mallopt(M_MMAP_THRESHOLD, value) for value in MMAP_THRESHOLDS):
        return False
    return bool(libc.mallopt(M_TRIM_THRESHOLD, KEEP_BYTES))


def _user_tuned() -> bool:
    tunables = os.environ.get("GLIBC_TUNABLES", "")
    return any(name in os.environ for name in USER_VARIABLES) or \
        any(name in tunables for name in USER_TUNABLES)


def release_free_memory() -> None:
    """Hand the allocator's free pages back to the system (at a point a long job chooses)."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
