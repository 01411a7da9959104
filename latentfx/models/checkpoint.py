"""Checkpoints: one .safetensors file holding weights and metadata (DESIGN §2).

safetensors stores raw tensors plus a JSON header, so loading can never execute code (unlike
torch.load on a pickle). We also refuse anything that is not a latentfx checkpoint before
building a model from it, and name the reason.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from latentfx import __version__
from latentfx.errors import CheckpointError
from latentfx.io.atomic import atomic_path
from latentfx.io.safetensors_files import check_safetensors, file_sha256, header_metadata
from latentfx.models.config import ModelConfig

if TYPE_CHECKING:  # torch and the networks load only where weights are read or written,
    import torch   # so reading a model's config stays quick (commands check it first)

    from latentfx.models import VAE
    from latentfx.priors.mixture import GaussianMixturePrior

FORMAT_NAME = "latentfx-checkpoint"
FORMAT_VERSION = 1
MODEL_PREFIX = "model."
METADATA_KEY = "latentfx"


@dataclass
class CheckpointInfo:
    path: Path
    model_id: str  # sha256 of the file
    config: ModelConfig
    metadata: dict  # every metadata field, JSON fields decoded
    tensors: dict[str, torch.Tensor]  # everything that is not model weights (training state)


def save_checkpoint(path: str | os.PathLike, model: VAE, *, training: dict | None = None,
                    extra: dict[str, torch.Tensor] | None = None,
                    prior: GaussianMixturePrior | None = None,
                    latent_stats: dict | None = None) -> str:
    """Write model (+ optional extra tensors such as optimiser state, a fitted prior and the
    latent statistics of its data, latentfx/priors/) atomically.

    Returns the new file's model id.
    """
    from safetensors.torch import save_file

    tensors = {MODEL_PREFIX + k: v.detach().cpu().contiguous()
               for k, v in model.state_dict().items()}
    for k, v in {**(extra or {}), **(prior.tensors() if prior else {})}.items():
        tensors[k] = v.detach().cpu().contiguous()
    header = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "latentfx_version": __version__,
        "family": model.config.family,
        "config": model.config.to_dict(),
        "training": training or {},
    }
    # Only when there is one, so a model without them keeps the bytes (and id) it had.
    if prior is not None:
        header["prior"] = prior.describe()
    if latent_stats is not None:
        header["latent_stats"] = latent_stats
    # One metadata key holding sorted JSON: safetensors stores its metadata map in no fixed
    # order, and the same model must always give the same bytes (hence the same model id).
    metadata = {METADATA_KEY: json.dumps(header, sort_keys=True)}
    path = Path(path)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
    return file_sha256(path)


def read_checkpoint(path: str | os.PathLike, *, with_tensors: bool = True) -> CheckpointInfo:
    """Validate and read a checkpoint's metadata (and tensors) without building a model."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    check_safetensors(path)
    try:
        with safe_open(str(path), framework="pt", device="cpu") as fh:
            metadata = _parse_metadata(path, fh.metadata() or {})
            tensors = {k: fh.get_tensor(k) for k in fh.keys()} if with_tensors else {}
    except SafetensorError as exc:
        raise CheckpointError(f"{path}: damaged or truncated safetensors file ({exc})") from None
    try:
        config = ModelConfig.from_dict(metadata["config"])
    except (ValueError, TypeError) as exc:
        raise CheckpointError(f"{path}: its model config is invalid ({exc})") from None
    return CheckpointInfo(path=path, model_id=file_sha256(path), config=config,
                          metadata=metadata, tensors=tensors)


def _parse_metadata(path: Path, raw: dict) -> dict:
    try:
        meta = json.loads(raw[METADATA_KEY])
        assert isinstance(meta, dict) and meta.get("format") == FORMAT_NAME
    except (KeyError, ValueError, AssertionError):
        raise CheckpointError(f"{path}: a safetensors file, but not a latentfx checkpoint "
                              f"(no latentfx metadata); train one with `latentfx train`") from None
    version = meta.get("format_version")
    if not isinstance(version, int):
        raise CheckpointError(f"{path}: unreadable checkpoint format version {version!r}")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: written by a newer latentfx (checkpoint format {version}, this is "
            f"latentfx {__version__} reading format {FORMAT_VERSION}); upgrade latentfx")
    if not isinstance(meta.get("config"), dict):
        raise CheckpointError(f"{path}: latentfx checkpoint without a model config")
    meta.setdefault("training", {})
    return meta


def read_metadata(path: str | os.PathLike) -> dict:
    """A checkpoint's metadata alone: no tensors read, no hash taken (cheap, for settling a
    spec's defaults before a job loads the model; torch is not imported)."""
    path = Path(path)
    return _parse_metadata(path, header_metadata(path))


def model_from_checkpoint(info: CheckpointInfo) -> VAE:
    from latentfx.models import build_model

    model = build_model(info.config)
    weights = {k[len(MODEL_PREFIX):]: v for k, v in info.tensors.items()
               if k.startswith(MODEL_PREFIX)}
    try:
        model.load_state_dict(weights, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{info.path}: weights do not match its config ({exc})") from None
    model.fitted_prior = _fitted_prior(info, model)
    return model.eval()


def _fitted_prior(info: CheckpointInfo, model: VAE) -> GaussianMixturePrior | None:
    from latentfx.priors.mixture import GaussianMixturePrior

    if "prior" not in info.metadata:
        return None
    try:
        prior = GaussianMixturePrior.from_tensors(info.tensors, info.metadata["prior"])
    except ValueError as exc:
        raise CheckpointError(f"{info.path}: damaged fitted prior ({exc})") from None
    size = model.config.image_size
    if (prior.dims,) != tuple(model.latent_shape(size, size)):
        raise CheckpointError(f"{info.path}: its fitted prior has {prior.dims} dimensions, "
                              f"its model's latent {model.latent_shape(size, size)}")
    return prior


def load_checkpoint(path: str | os.PathLike) -> tuple[VAE, CheckpointInfo]:
    info = read_checkpoint(path)
    return model_from_checkpoint(info), info
