"""Choices shared by the library and the CLI. Kept free of heavy imports so that
`latentfx --help` never loads torch."""

FAMILIES = ("vector", "spatial")
# --vae-kind: the diffusion models whose autoencoders latentfx reads (latentfx/models/foreign/).
VAE_KINDS = ("sd", "sdxl", "sd3", "flux")
# A progress message starting with this is a notice said once (an estimate of the time a
# job will take), not a status: the CLI prints it above the bar.
NOTE = "note: "
FIT_POLICIES = ("center-crop", "pad", "random-crop")
INFERENCE_FITS = ("center-crop", "pad")  # random crops make sense for training only
FRAME_FITS = ("crop", "pad", "stretch")  # walks, mixes, stores: any frame size and aspect
AUGMENTS = ("none", "flip", "strong")
DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")  # training arithmetic (latentfx/training/precision.py)

# What `seed:N` latents are drawn from: N(0, I), or the Gaussian mixture fitted to the model's
# encoded training data (latentfx/priors/mixture.py).
PRIORS = ("normal", "data")
PRIOR_WHEN_FITTED = "data"  # the default for a model that carries a fitted prior


def default_prior(*, fitted: bool) -> str:
    """The prior used when none is asked for: the fitted one where the model has it (its
    draws land where the training data is), else N(0, I). The one place this is decided."""
    return PRIOR_WHEN_FITTED if fitted else "normal"

# What `neighbors`, `degrees` and `map` compare pictures by (latentfx/features/): statistics
# of the model's encoder pooled over the picture, the flattened latent (place by place), or
# `clip:DIR`, an open_clip model kept in a local folder. One default for both families: on
# the bundled models pooled features agree with the generators' labels more often than the
# latents do (README, "Similarity").
FEATURES = ("pooled", "latent")
CLIP_PREFIX = "clip:"
DEFAULT_FEATURES = "pooled"


def features_folder(features: str) -> str | None:
    """The folder of `clip:DIR`; None for the model's own features."""
    return features[len(CLIP_PREFIX):] if features.startswith(CLIP_PREFIX) else None


def check_features(features: str) -> str:
    """`features` if it is one of FEATURES or `clip:DIR`, else an InputError naming it."""
    from latentfx.errors import InputError

    if features in FEATURES or (features_folder(features) or "").strip():
        return features
    raise InputError(f"--features must be {', '.join(FEATURES)} or {CLIP_PREFIX}DIR (a folder "
                     f"holding an open_clip model), got {features!r}")


# How a walk between two pictures gets from one to the other on a model whose latent is a
# picture: "flow" moves each keyframe's content along the correspondence between them (a
# morph, latentfx/walk/morph.py), "none" blends latents place by place (a dissolve).
MORPHS = ("flow", "none")


# How a vector model's walk joins its keyframes: "line" follows the interpolation (--interp)
# as it is; "data" settles each frame onto the pictures the model draws (latentfx/walk/
# data_path.py).
ALONG = ("line", "data")
# A walk along the data pulls each settled frame towards its mixture components and settles it
# again this many times (latentfx/walk/data_path.py); a walk's spec records it, so a manifest
# written with another count renders as it did.
DATA_PULLS = 2


def default_along(*, latent_is_picture: bool, space: str) -> str:
    """The path used when none is asked for: along the data for latent walks on a model
    whose latent is the whole picture (a vector model), else the line. Measured
    (benchmarks/meaning.py): the midpoints of walks between unseen items are one clean
    picture 89% of the time along the data against 23% on the line on shapes, 85% against
    22% on glyphs. The one place this is decided."""
    return "data" if not latent_is_picture and space == "latent" else "line"


def default_morph(*, latent_is_picture: bool, space: str) -> str:
    """The morph used when none is asked for: "flow" for latent walks on a model whose
    latent is a picture (where it falls back to a blend by itself wherever the keyframes do
    not correspond), else "none". The one place this is decided."""
    return "flow" if latent_is_picture and space == "latent" else "none"


def check_render_options(*, size: tuple[int, int] | None, batch: int) -> None:
    """InputError naming the option when a walk cannot be rendered with these."""
    from latentfx.errors import InputError

    if batch < 1:
        raise InputError(f"--batch must be at least 1, got {batch}")
    if size is not None and min(size) < 8:
        raise InputError(f"--size must be at least 8x8, got {size[0]}x{size[1]}")
