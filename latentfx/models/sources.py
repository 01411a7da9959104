"""Which family reads a model: a bundled name or a latentfx checkpoint (latentfx/models/
checkpoint.py), or anything else, a foreign autoencoder (latentfx/models/foreign/), which reads
it or refuses it with the reason. Torch-free: the CLI and the farm check models with it
before any heavy import."""

from __future__ import annotations

import os
from pathlib import Path

from latentfx.errors import CheckpointError
from latentfx.models.bundled import resolve_model


def foreign_path(name_or_path: str | os.PathLike | None) -> Path | None:
    """The path, when it names a foreign model (a folder, or a file that is not a latentfx
    checkpoint); None for latentfx's own."""
    from latentfx.models.foreign import is_foreign

    path = resolve_model(name_or_path)
    return path if is_foreign(path) else None


def check_model(name_or_path: str | os.PathLike | None, *, vae_kind: str | None = None,
                decoder: str | os.PathLike | None = None) -> None:
    """CheckpointError now for what loading would refuse later, from the files' headers:
    a missing or pickled file, an unknown layout, a kind the file needs and lacks, a decoder
    of other latents. --vae-kind and --decoder belong to foreign autoencoders only."""
    from latentfx.models.foreign import plan

    path = foreign_path(name_or_path)
    if path is None:
        if decoder is not None or vae_kind is not None:
            option = "--decoder" if decoder is not None else "--vae-kind"
            raise CheckpointError(f"{option} applies to the autoencoders of diffusion "
                                  f"models (SD, SDXL, SD3, FLUX, TAESD); model "
                                  f"{name_or_path or 'default'} is a latentfx model: drop "
                                  f"{option}")
        return
    plan(path, kind=vae_kind, decoder=decoder)


def model_metadata(name_or_path: str | os.PathLike | None) -> dict:
    """A model's metadata without its weights (family, config, fitted prior if any)."""
    from latentfx.models.checkpoint import read_metadata
    from latentfx.models.foreign import metadata

    path = foreign_path(name_or_path)
    return read_metadata(resolve_model(name_or_path)) if path is None else metadata(path)


def model_id(name_or_path: str | os.PathLike | None) -> str:
    """The id every output records: the sha256 of the model's file."""
    from latentfx.io.safetensors_files import file_sha256
    from latentfx.models.foreign import model_file

    path = foreign_path(name_or_path)
    return file_sha256(resolve_model(name_or_path) if path is None else model_file(path))
