"""Which prior a job draws `seed:N` latents from, settled from the model file before the job
loads it, so that the spec (and the manifest that records it) says what was drawn and a
rerender draws the same."""

from __future__ import annotations

from latentfx.errors import InputError
from latentfx.options import ALONG, PRIORS, default_along, default_prior


def check_prior_option(value: str | None) -> None:
    """InputError unless `value` is None (the default) or one of PRIORS."""
    if value is not None and value not in PRIORS:
        raise InputError(f"--prior must be one of {', '.join(PRIORS)}, got {value!r}")


def resolve_prior(model: str | None, requested: str | None, *,
                  draws: bool = True) -> str | None:
    """`requested` ("normal" or "data") checked against the model, or the default for it
    (latentfx.options.default_prior): InputError naming the model when it has no fitted
    prior to draw from. A job that `draws` nothing from a prior keeps `requested` as it is
    (the model file is not read)."""
    from latentfx.models.sources import model_metadata

    if not draws:
        return requested
    fitted = "prior" in model_metadata(model)
    if requested is None:
        return default_prior(fitted=fitted)
    if requested == "data" and not fitted:
        name = model or "default"
        raise InputError(
            f"--prior data: model {name} has no fitted prior. Write a copy of it with one: "
            f"`latentfx fit-prior {name} --folder TRAINING_IMAGES -o NEW.safetensors` (or "
            f"--store STORE.safetensors), or draw from N(0, I) with --prior normal. (Vector "
            f"models trained by this latentfx carry one; a spatial model is not a generator "
            f"and has none.)")
    return requested


def resolve_along(model: str | None, requested: str | None, *, space: str) -> str:
    """`requested` ("line", "data" or None) checked against the model, or the default for it
    (latentfx.options.default_along), read from the model file's header before the job loads
    it: InputError naming the model when its latent is not a whole picture to settle."""
    from latentfx.models.config import ModelConfig
    from latentfx.models.sources import model_metadata

    if requested is not None and requested not in ALONG:
        raise InputError(f"--along must be one of {', '.join(ALONG)}, got {requested!r}")
    if requested == "line" or space != "latent":  # a crossfade is a line between pictures
        return "line"
    picture = ModelConfig.from_dict(model_metadata(model)["config"]).latent_is_picture
    if requested is None:
        return default_along(latent_is_picture=picture, space=space)
    if picture:
        raise InputError(f"--along data: model {model or 'default'} is a spatial model, whose "
                         f"latent is a picture of the image, not a point of the data to walk "
                         f"along (a vector model's is); drop --along")
    return requested
