"""Giving freed memory back to the operating system during long jobs.

glibc's allocator keeps freed blocks in its heaps for reuse, and with PyTorch's many
same-sized, short-lived CPU buffers (one batch of pictures after another) those heaps grow
without bound: encoding 20,000 images held ~5 GB where the latents need 0.3 GB. malloc_trim
hands the free pages back. Elsewhere (macOS, musl, Windows) this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools


@functools.lru_cache(maxsize=1)
def _trim():
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None


def release_free_memory() -> None:
    trim = _trim()
    if trim is not None:
        trim(0)
