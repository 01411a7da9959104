"""Foreign autoencoders: the Stable Diffusion, SDXL, SD3 and FLUX AutoencoderKLs and the
TAESD family, read from local files through diffusers (`pip install "latentfx[diffusers]"`),
behind latentfx's model interface as spatial models.

    layouts.py  what a file or folder holds, from its header (torch-free)
    kinds.py    the latent space each kind was trained for; the bundled configs
    weights.py  the diffusers module, weights loaded strictly, offline
    model.py    ForeignVAE: the VAE interface over one or two such modules

This module stays torch-free at import: the CLI checks model files with it before any heavy
import.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from latentfx.errors import CheckpointError
from latentfx.models.foreign.kinds import scale_and_shift
from latentfx.models.foreign.layouts import Part, describe, is_latentfx_checkpoint


@dataclass(frozen=True)
class Plan:
    """Where a foreign model's encoder and decoder come from."""

    encoder: Part
    decoder: Part

    @property
    def source(self) -> Path:
        return self.encoder.weights

    def summary(self) -> dict:
        scale, shift = scale_and_shift(self.encoder.config)
        summary = {"encoder": self.encoder.title(), "encoder_file": str(self.encoder.weights),
                   "kind": self.encoder.kind.name if self.encoder.kind else None,
                   "latent_channels": self.encoder.channels, "factor": self.encoder.factor,
                   "latent_scale": scale, "latent_shift": shift}
        if self.decoder is not self.encoder:
            summary.update(decoder=self.decoder.title(), decoder_file=str(self.decoder.weights))
        return summary


def is_foreign(path: str | os.PathLike) -> bool:
    """Whether a model path names something other than a latentfx checkpoint (a folder, a
    foreign or a pickled file: what this family reads, or refuses with the reason)."""
    path = Path(path)
    return path.is_dir() or (path.is_file() and not is_latentfx_checkpoint(path))


def plan(model: str | os.PathLike, *, kind: str | None = None,
         decoder: str | os.PathLike | None = None, need_kind: bool = True) -> Plan:
    """Check a foreign model (and a separate decoder) from their headers, torch-free:
    CheckpointError naming the file and what to do when they cannot make a model.
    need_kind=False: a file whose kind it cannot tell is no error (its latent's shape is all
    the caller asks)."""
    encoder = describe(Path(model), kind=kind, need_kind=need_kind)
    if "encoder" not in encoder.halves:
        raise CheckpointError(
            f"{model}: a decoder only; give the file with its encoder to -m (for a TAESD "
            f"decoder, the matching taesd*_encoder file) and this one to --decoder")
    if decoder is None:
        if "decoder" not in encoder.halves:
            raise CheckpointError(f"{model}: an encoder only; give its decoder with "
                                  f"--decoder FILE (e.g. the matching taesd*_decoder file)")
        return Plan(encoder, encoder)
    second = describe(Path(decoder), kind=kind or (encoder.kind.name if encoder.kind else None),
                      need_kind=need_kind)
    if "decoder" not in second.halves:
        raise CheckpointError(f"--decoder {decoder}: an encoder only, it cannot decode")
    if (second.channels, second.factor) != (encoder.channels, encoder.factor):
        raise CheckpointError(
            f"--decoder {decoder}: decodes {second.channels}-channel latents at 1/{second.factor} "
            f"size, but {model} makes {encoder.channels}-channel latents at 1/{encoder.factor}; "
            f"give the decoder of the same family (taesd/taesdxl for SD/SDXL, taesd3/taef1 "
            f"for SD3/FLUX)")
    return Plan(encoder, second)


def model_file(model: str | os.PathLike) -> Path:
    """The file whose sha256 is the model id: the file itself, or a diffusers folder's
    weights file."""
    return describe(Path(model), need_kind=False).weights


def metadata(model: str | os.PathLike) -> dict:
    """What a job settles its defaults from, as a latentfx checkpoint's metadata says it
    (read_metadata): the family and the config, from the header alone (the halves a job
    needs are checked where it loads them)."""
    part = describe(Path(model), need_kind=False)
    return _metadata(Plan(part, part))


def _metadata(found: Plan) -> dict:
    return {"format": "foreign", "family": "spatial", "config": model_config(found).to_dict(),
            "training": {}, "foreign": found.summary()}


def model_config(found: Plan):
    """The spatial ModelConfig latentfx sizes latents by: factor and channels."""
    from latentfx.models.config import ModelConfig

    size = int(found.encoder.config.get("sample_size") or 512)
    return ModelConfig(family="spatial", image_size=size, widths=tuple(found.encoder.levels[1:]),
                       latent_channels=found.encoder.channels)


def load_foreign(model: str | os.PathLike, *, kind: str | None = None,
                 decoder: str | os.PathLike | None = None):
    """(ForeignVAE in eval mode on the CPU, CheckpointInfo): its model id is the sha256 of
    the file -m names (the latents are its encoder's; the decoder is recorded in the spec)."""
    from latentfx.io.safetensors_files import file_sha256
    from latentfx.models.checkpoint import CheckpointInfo
    from latentfx.models.foreign.model import ForeignVAE, Side
    from latentfx.models.foreign.weights import build

    found = plan(model, kind=kind, decoder=decoder)

    def side(part: Part, keep: tuple[str, ...]) -> Side:
        return Side(build(part, keep=keep), *scale_and_shift(part.config), part.cls,
                    half_safe=part.kind.half_safe if part.kind else True,
                    weights=lambda: build(part, keep=keep).state_dict())

    if found.decoder is found.encoder:
        encoder = decoder = side(found.encoder, ("encoder", "decoder"))
    else:  # each file gives only the half it is used for
        encoder, decoder = side(found.encoder, ("encoder",)), side(found.decoder, ("decoder",))
    config = model_config(found)
    vae = ForeignVAE(encoder=encoder, decoder=decoder, config=config,
                     description=found.summary())
    info = CheckpointInfo(path=found.source, model_id=file_sha256(found.source), config=config,
                          metadata=_metadata(found), tensors={})
    return vae.eval(), info
