"""Load a model by name or path onto a device, ready for inference."""

from __future__ import annotations

import torch

from latentfx.models import VAE
from latentfx.models.bundled import resolve_model
from latentfx.models.checkpoint import CheckpointInfo, load_checkpoint
from latentfx.models.sources import check_model, foreign_path
from latentfx.runtime.devices import pick_device


def load_model(name_or_path: str | None, *, device: str = "auto", vae_kind: str | None = None,
               decoder: str | None = None) -> tuple[VAE, CheckpointInfo]:
    """The model, in eval mode and channels_last on `device`, and its checkpoint info.
    `vae_kind` and `decoder` (a separate decoder file) apply to foreign autoencoders
    (latentfx/models/foreign/) only."""
    check_model(name_or_path, vae_kind=vae_kind, decoder=decoder)
    foreign = foreign_path(name_or_path)
    if foreign is None:
        model, info = load_checkpoint(resolve_model(name_or_path))
    else:
        from latentfx.models.foreign import load_foreign

        model, info = load_foreign(foreign, kind=vae_kind, decoder=decoder)
    target = pick_device(device)
    model = model.to(target, memory_format=torch.channels_last)
    if foreign is not None:
        _choose_precision(model, target)
    return model, info


def _choose_precision(model, device: torch.device) -> None:
    """float16 on a GPU for the autoencoders that stay finite in it (twice the speed); the
    SDXL VAE stays float32 there, since it overflows to NaN (black frames) in float16, and
    any other that does falls back to float32 by itself (ForeignVAE._guarded)."""
    if device.type == "cuda" and model.half_safe:
        model.use_dtype(torch.float16)
