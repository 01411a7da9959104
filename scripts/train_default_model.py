"""Train the bundled `default` model (spatial, f=4, 4 latent channels) from scratch.

Uses only scikit-image's bundled sample images (listed below with their licences) plus
augmentation: random crops at random scales, flips, 90-degree rotations, colour-channel
shuffles and brightness/contrast jitter. Re-running the same command resumes the run from
its last checkpoint (the run folder keeps optimiser state and history).

    pip install -e ".[bundled-training]"      # scikit-image, for the photographs
    python scripts/train_default_model.py --work build/default-run --steps 6000
    # then copy build/default-run/default.safetensors to latentfx/weights/
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

# name in skimage.data -> licence, as scikit-image's own docstrings state it. Three say
# nothing; they ship inside scikit-image under its BSD-3-Clause licence.
UNSTATED = "no statement in its docstring; shipped with scikit-image (BSD-3-Clause)"
TRAINING_IMAGES = {
    "astronaut": "public domain (NASA Great Images database)",
    "camera": "CC0 (photographer Lav Varshney)",
    "chelsea": "CC0 (photographer Stefan van der Walt)",
    "coffee": "CC0 (photographer Rachel Michetti)",
    "coins": "no known copyright restrictions (Brooklyn Museum collection)",
    "hubble_deep_field": "public domain (NASA)",
    "immunohistochemistry": "no known copyright restrictions",
    "moon": UNSTATED,
    "rocket": "public domain (SpaceX)",
    "retina": "CC0 1.0 (Mikael Häggström, Wikimedia Commons)",
    "brick": "CC0 (CC0Textures)",
    "grass": "CC0 (DeviantArt, linolafett)",
    "gravel": "CC0 (CC0Textures)",
    "cell": "CC0",
    "page": UNSTATED,
    "text": "public domain (Wikipedia)",
    "colorwheel": UNSTATED,
}

RECIPE = dict(family="spatial", size=96, latent="4:4", widths=(32, 64), blocks=2, batch=16,
              lr=2e-3, beta=1e-4, kl_warmup=500, seed=0, fit="random-crop", augment="strong",
              save_every=250)


def export_images(folder: Path) -> None:
    import skimage.data
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for name in TRAINING_IMAGES:
        target = folder / f"{name}.png"
        if not target.exists():
            Image.fromarray(getattr(skimage.data, name)()).save(target)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("build/default-run"))
    parser.add_argument("--steps", type=int, default=6000)
    args = parser.parse_args()

    from bundled_training import train_recipe

    images = args.work / "images"
    export_images(images)
    train_recipe(images=images, output=args.work / "default.safetensors", steps=args.steps,
                 recipe=RECIPE)


if __name__ == "__main__":
    main()
