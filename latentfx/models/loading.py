"""Load a model by name or path onto a device, ready for inference."""

from __future__ import annotations

import torch

from latentfx.models import VAE
from latentfx.models.bundled import resolve_model
from latentfx.models.checkpoint import CheckpointInfo, load_checkpoint
from latentfx.runtime.devices import pick_device


def load_model(name_or_path: str | None, *, device: str = "auto") -> tuple[VAE, CheckpointInfo]:
    """The model, in eval mode and channels_last on `device`, and its checkpoint info."""
    model, info = load_checkpoint(resolve_model(name_or_path))
    model = model.to(pick_device(device), memory_format=torch.channels_last)
    return model, info

