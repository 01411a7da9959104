"""A model's description, as `latentfx info` prints it."""

from __future__ import annotations

from latentfx.errors import InputError
from latentfx.models.bundled import WEIGHTS_DIR, resolve_model
from latentfx.models.checkpoint import model_from_checkpoint, read_checkpoint


def describe(name_or_path: str | None, *, size: tuple[int, int] | None = None) -> dict:
    path = resolve_model(name_or_path)
    info = read_checkpoint(path)
    model = model_from_checkpoint(info)
    config = info.config
    if size is None:
        side = config.image_size if config.family == "vector" else 512
        size = (side, side)
    width, height = size
    if config.family == "vector" and (width, height) != (config.image_size,) * 2:
        raise InputError(f"--size {width}x{height}: this vector model works at "
                         f"{config.image_size}x{config.image_size} only")
    latent = model.latent_shape(height, width)
    training = info.metadata.get("training", {})
    name = str(name_or_path or "default")
    return {
        "model": f"{name} (bundled)" if path.parent == WEIGHTS_DIR else str(path),
        "model_id": info.model_id,
        "family": config.family,
        "config": _relevant(config.to_dict()),
        "parameters": _params(model),
        "latent_shape": f"{' x '.join(map(str, latent))} for {width}x{height} "
                        f"(compression {model.compression(height, width):.2f}x)",
        "training": {k: v for k, v in training.items() if k not in ("options", "state")},
        "trained_with": training.get("options", {}),
        "latentfx_version": info.metadata.get("latentfx_version"),
        "format_version": info.metadata.get("format_version"),
    }


def _relevant(config: dict) -> dict:
    """The config fields that mean something for this family."""
    unused = "latent_channels" if config["family"] == "vector" else "latent_dim"
    return {k: v for k, v in config.items() if k != unused and v is not None}


def _params(model) -> str:
    enc = sum(p.numel() for n, p in model.named_parameters()
              if n.startswith(("encoder", "to_moments")))
    total = model.num_parameters()
    return f"{total:,} ({enc:,} encoder, {total - enc:,} decoder)"
