"""A model's description, as `latentfx info` prints it."""

from __future__ import annotations

from latentfx.errors import InputError
from latentfx.models.bundled import WEIGHTS_DIR, resolve_model
from latentfx.models.checkpoint import model_from_checkpoint, read_checkpoint

ANY_SIZE_DEFAULT = 512  # side of the square a model that takes any size is described at


def describe(name_or_path: str | None, *, size: tuple[int, int] | None = None,
             vae_kind: str | None = None, decoder: str | None = None) -> dict:
    from latentfx.models.sources import check_model, foreign_path

    check_model(name_or_path, vae_kind=vae_kind, decoder=decoder)
    if foreign_path(name_or_path) is not None:
        return _describe_foreign(name_or_path, size, vae_kind=vae_kind, decoder=decoder)
    path = resolve_model(name_or_path)
    info = read_checkpoint(path)
    model = model_from_checkpoint(info)
    config = info.config
    width, height = size or _default_size(model)
    if model.working_size(height, width) != (height, width):
        native_height, native_width = model.native_size
        raise InputError(f"--size {width}x{height}: this {config.family} model works at "
                         f"{native_width}x{native_height} only")
    latent = model.latent_shape(height, width)
    training = info.metadata.get("training", {})
    name = str(name_or_path or "default")
    return {
        "model": f"{name} (bundled)" if path.parent == WEIGHTS_DIR else str(path),
        "model_id": info.model_id,
        "family": config.family,
        "config": config.meaningful_fields(),
        "parameters": _params(model),
        "latent_shape": f"{' x '.join(map(str, latent))} for {width}x{height} "
                        f"(compression {model.compression(height, width):.2f}x)",
        "training": {k: v for k, v in training.items() if k not in ("options", "state")},
        "trained_with": training.get("options", {}),
        # How the encoded data sits against N(0, I) (latentfx/priors/statistics.py), and the
        # prior fitted to it; None: not recorded (a model from before latentfx measured them).
        "latent_stats": info.metadata.get("latent_stats"),
        "prior": info.metadata.get("prior"),
        "latentfx_version": info.metadata.get("latentfx_version"),
        "format_version": info.metadata.get("format_version"),
    }


def _describe_foreign(name_or_path: str, size: tuple[int, int] | None, *,
                      vae_kind: str | None, decoder: str | None) -> dict:
    """A foreign autoencoder (latentfx/models/foreign/): its layout, kind and latent space."""
    from latentfx.models.foreign import load_foreign

    model, info = load_foreign(name_or_path, kind=vae_kind, decoder=decoder)
    width, height = size or _default_size(model)
    latent = model.latent_shape(height, width)
    from latentfx.models.foreign.cost import decode_flops

    parts = {k: v for k, v in info.metadata["foreign"].items() if not k.endswith("_file")}
    return {
        "model": str(name_or_path),
        "model_id": info.model_id,
        "family": "spatial (a foreign autoencoder, read through diffusers)",
        **parts,
        "parameters": f"{model.num_parameters():,}",
        "latent_shape": f"{' x '.join(map(str, latent))} for {width}x{height} "
                        f"(compression {model.compression(height, width):.2f}x)",
        "decode_cost": f"{decode_flops(model, height, width) / 1e9:,.0f} GFLOP per "
                       f"{width}x{height} frame",
        "foreign": True,
    }


def _default_size(model) -> tuple[int, int]:
    """(width, height) the latent shape is shown for: the model's own size, if it has one."""
    height, width = model.native_size or (ANY_SIZE_DEFAULT, ANY_SIZE_DEFAULT)
    return width, height


def _params(model) -> str:
    enc = sum(p.numel() for n, p in model.named_parameters()
              if n.startswith(("encoder", "to_moments")))
    total = model.num_parameters()
    return f"{total:,} ({enc:,} encoder, {total - enc:,} decoder)"
