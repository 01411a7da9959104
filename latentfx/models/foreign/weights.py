"""Build a diffusers autoencoder from a Part (latentfx/models/foreign/layouts.py) and load its
weights strictly from the safetensors file, offline. diffusers is imported here and only
here (with model.py, which receives what this builds)."""

from __future__ import annotations

import re

import torch

from latentfx.errors import CheckpointError
from latentfx.models.foreign.layouts import Part, tiny_index_shift

MISSING_EXTRA = ("reading this autoencoder needs diffusers, which the base install leaves "
                 "out: pip install \"latentfx[diffusers]\"")


def diffusers_classes():
    """(AutoencoderKL, AutoencoderTiny), or CheckpointError saying how to install them."""
    try:
        from diffusers import AutoencoderKL, AutoencoderTiny
    except ImportError:
        raise CheckpointError(MISSING_EXTRA) from None
    return AutoencoderKL, AutoencoderTiny


def build(part: Part, *, keep: tuple[str, ...]) -> torch.nn.Module:
    """The diffusers module of `part` with its file's weights, in eval mode, float32 on the
    CPU. The halves the file holds are loaded (every one of their weights, strictly); only
    those in `keep` stay, so a half the file lacks (random) is never used and one taken
    from another file costs no memory."""
    kl, tiny = diffusers_classes()
    cls = kl if part.cls == "AutoencoderKL" else tiny
    module = cls.from_config(_arguments(cls, part.config))
    weights = _read(part)
    try:
        if part.cls == "AutoencoderKL":
            _load_kl(module, part, weights)
        else:
            _load_tiny(module, part, weights)
    except RuntimeError as exc:
        raise CheckpointError(f"{part.weights}: its weights do not fit the {part.cls} its "
                              f"shapes describe ({_first_line(exc)})") from None
    for half in ("encoder", "decoder"):
        if half not in part.halves or half not in keep:
            setattr(module, half, None)
    return module.float().eval()


def _arguments(cls, config: dict) -> dict:
    """The config's entries the class takes: diffusers' bookkeeping keys and the ones a
    saved config repeats (AutoencoderTiny's block_out_channels) would only draw warnings."""
    import inspect

    accepted = inspect.signature(cls.__init__).parameters
    return {k: v for k, v in config.items() if k in accepted}


def _read(part: Part) -> dict[str, torch.Tensor]:
    """The tensors under the part's prefixes only: a whole SD checkpoint's UNet and text
    encoders stay on disk."""
    from safetensors import SafetensorError, safe_open

    prefixes = tuple(part.prefix.values())
    try:
        with safe_open(str(part.weights), framework="pt", device="cpu") as fh:
            return {k: fh.get_tensor(k) for k in fh.keys() if k.startswith(prefixes)}
    except SafetensorError as exc:
        raise CheckpointError(f"{part.weights}: damaged or truncated safetensors file "
                              f"({exc})") from None


def _load_kl(module, part: Part, weights: dict) -> None:
    if part.layout == "ldm":
        from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint

        prefix = part.prefix[""]
        weights = convert_ldm_vae_checkpoint(
            {k[len(prefix):]: v for k, v in weights.items()}, part.config)
        weights = {k: v for k, v in weights.items() if v is not None}
    module.load_state_dict(weights, strict=True)


def _load_tiny(module, part: Part, weights: dict) -> None:
    """Each half into its own submodule, under diffusers' names (layers.N...)."""
    for half, prefix in part.prefix.items():
        shift = tiny_index_shift(prefix, half)
        renamed = {}
        for name, tensor in weights.items():
            m = re.fullmatch(re.escape(prefix) + r"(\d+)\.(.+)", name)
            if m:
                renamed[f"layers.{int(m.group(1)) - shift}.{m.group(2)}"] = tensor
        getattr(module, half).load_state_dict(renamed, strict=True)


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:300]
