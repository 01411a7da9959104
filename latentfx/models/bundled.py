"""Models and sample images shipped inside the package, loaded offline."""

from __future__ import annotations

import os
from pathlib import Path

from latentfx.errors import CheckpointError

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # latentfx/, where the data folders sit
WEIGHTS_DIR = PACKAGE_DIR / "weights"
SAMPLES_DIR = PACKAGE_DIR / "samples"
DEFAULT_MODEL = "default"
BUNDLED_MODELS = {
    "default": "spatial model for photographs at any size and aspect",
    "shapes": "vector model of the procedural shapes dataset (latentfx.datasets.shapes)",
    "glyphs": "vector model of capital letters in real typefaces (latentfx.datasets.glyphs)",
}


def bundled_model_path(name: str) -> Path:
    return WEIGHTS_DIR / f"{name}.safetensors"


def resolve_model(name_or_path: str | os.PathLike | None) -> Path:
    """A checkpoint path, or the file of a bundled model's name; None means `default`."""
    if name_or_path is None:
        name_or_path = DEFAULT_MODEL
    path = Path(name_or_path)
    if str(name_or_path) in BUNDLED_MODELS and not path.exists():
        bundled = bundled_model_path(str(name_or_path))
        if not bundled.exists():
            raise CheckpointError(f"bundled model {name_or_path!r} is missing from this "
                                  f"installation ({bundled}); reinstall latentfx")
        return bundled
    if not path.exists():
        raise CheckpointError(f"{path}: no such model file, and not a bundled model name "
                              f"(bundled: {', '.join(BUNDLED_MODELS)})")
    return path


def sample_images() -> list[Path]:
    """The sample images shipped for demos, sorted by name."""
    return sorted(p for p in SAMPLES_DIR.iterdir() if p.suffix.lower() in (".jpg", ".png"))
