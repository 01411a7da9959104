"""Device choice. Nothing here touches CUDA at import time (DESIGN §2)."""

from __future__ import annotations

from latentfx.errors import InputError
from latentfx.options import DEVICES


def pick_device(name: str = "auto"):
    """`auto` takes cuda, then mps, then cpu; an explicit device must exist.

    Every model, for inference or training, gets its device here, so this is also where the
    process's allocator is readied for tensor work (latentfx/runtime/memory.py).
    """
    import torch

    from latentfx.runtime.memory import keep_freed_memory_for_reuse

    keep_freed_memory_for_reuse()

    if name not in DEVICES and not name.startswith("cuda:"):
        raise InputError(f"unknown device {name!r}; choose one of {', '.join(DEVICES)}")
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"device {name!r} requested but CUDA is not available here; "
                         f"use --device cpu or auto")
    if name == "mps" and not torch.backends.mps.is_available():
        raise InputError("device 'mps' requested but MPS is not available here; "
                         "use --device cpu or auto")
    return torch.device(name)
