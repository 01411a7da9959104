"""The arithmetic a training step runs in.

`auto` is bf16 autocast on a CUDA device that supports it (the range of fp32, so no loss
scaling, and about twice the throughput of fp32 on tensor cores); fp16 autocast with a
GradScaler on older CUDA devices (fp16's narrow range underflows small gradients unless the
loss is scaled); and plain fp32 everywhere else: CPU autocast is slower than fp32 for these
convolutions on most CPUs, and MPS autocast is incomplete. The weights and the optimiser stay
fp32 whatever is chosen; only the forward pass's arithmetic changes.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from latentfx.errors import InputError


@dataclass(frozen=True)
class Precision:
    dtype: torch.dtype | None  # the autocast dtype; None: fp32, no autocast
    scaled: bool  # fp16: scale the loss (GradScaler)

    def autocast(self, device: torch.device):
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=device.type, dtype=self.dtype)

    def scaler(self, device: torch.device):
        return torch.amp.GradScaler(device.type, enabled=self.scaled)

    @property
    def name(self) -> str:
        return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.dtype]


def choose_precision(name: str, device: torch.device) -> Precision:
    """`name` (latentfx.options.PRECISIONS) on `device`; refuses what the device cannot do."""
    if name == "auto":
        if device.type != "cuda":
            return Precision(None, False)
        name = "bf16" if _native_bf16() else "fp16"
    if name == "fp32":
        return Precision(None, False)
    if name == "fp16":
        if device.type != "cuda":
            raise InputError(f"--precision fp16 needs a CUDA device (here: {device.type}); "
                             f"use bf16 or fp32")
        return Precision(torch.float16, True)
    if name == "bf16":
        if device.type == "cuda" and not _native_bf16():
            raise InputError("--precision bf16: this GPU has no native bfloat16 (it would be "
                             "emulated, slowly); use fp16 or auto")
        return Precision(torch.bfloat16, False)
    raise InputError(f"unknown precision {name!r}; choose one of auto, fp32, bf16, fp16")


def _native_bf16() -> bool:
    """Whether the CUDA device computes in bfloat16 itself (Ampere and later); torch's own
    check also says yes where bfloat16 is only emulated."""
    return torch.cuda.is_bf16_supported(including_emulation=False)
