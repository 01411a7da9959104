"""The autoencoders of the diffusion models latentfx reads, and the latent space each was
trained for. Torch-free: the CLI checks `--vae-kind` and files with it before heavy imports.

A diffusion model never sees its autoencoder's raw latent: it sees (raw - shift) * scale,
which has about unit spread. That normalised latent is the one latentfx works in, so seed:N
(N(0, I) draws), --temperature, slerp and attribute vectors mean there what they mean for a
latentfx model, and the TAESD decoders, which were distilled to decode the normalised latent
directly, decode the same latents as the full decoder. SD and SDXL autoencoders have the same
shapes (so do SD3's and FLUX's), and their scale cannot be read from the weights.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from latentfx.options import VAE_KINDS

CONFIGS = Path(__file__).resolve().parent / "configs"  # diffusers configs, bundled


@dataclass(frozen=True)
class Kind:
    name: str         # --vae-kind
    title: str
    channels: int     # latent channels
    tiny: str         # the TAESD-family decoder for the same latents
    half_safe: bool   # runs in float16 without NaNs (the SDXL VAE does not: black frames)

    def config(self, *, tiny: bool = False) -> dict:
        """The bundled diffusers config of this kind's AutoencoderKL (or its TAESD)."""
        return bundled_config(self.tiny if tiny else self.name)


KINDS = {k.name: k for k in [
    Kind("sd", "Stable Diffusion 1/2", 4, "taesd", half_safe=True),
    Kind("sdxl", "Stable Diffusion XL", 4, "taesdxl", half_safe=False),
    Kind("sd3", "Stable Diffusion 3", 16, "taesd3", half_safe=True),
    Kind("flux", "FLUX.1", 16, "taef1", half_safe=True),
]}
assert tuple(KINDS) == VAE_KINDS  # the CLI offers them without importing this module


def kinds_with(channels: int) -> list[Kind]:
    """The kinds whose latent has this many channels (the candidates for a file)."""
    return [k for k in KINDS.values() if k.channels == channels]


@cache
def bundled_config(name: str) -> dict:
    return json.loads((CONFIGS / f"{name}.json").read_text())


# diffusers' AutoencoderKL default latent scale: configs written before diffusers 0.7 (the
# sd-vae-ft-mse folder, SD 1.x `vae/` folders) have no `scaling_factor`, and diffusers fills
# in this value for them.
AUTOENCODER_KL_DEFAULT_SCALE = 0.18215


def with_defaults(config: dict) -> dict:
    """A folder's config with what diffusers fills in for keys older configs lack."""
    if config.get("_class_name") == "AutoencoderKL":
        return {"scaling_factor": AUTOENCODER_KL_DEFAULT_SCALE, "shift_factor": None, **config}
    return config


def scale_and_shift(config: dict) -> tuple[float, float]:
    """(scale, shift) of a diffusers autoencoder config: normalised = (raw - shift) * scale,
    as diffusers' pipelines apply them. An AutoencoderTiny's latent is the normalised one
    already (the TAESD decoders were distilled on it), whatever its config says."""
    if config.get("_class_name") == "AutoencoderTiny":
        return 1.0, 0.0
    config = with_defaults(config)
    return float(config.get("scaling_factor") or 1.0), float(config.get("shift_factor") or 0.0)


def kind_for_channels(channels: int) -> Kind:
    """The first kind with this many latent channels (for suggestions that need one)."""
    return next(iter(kinds_with(channels)), KINDS["sd"])
