"""Train the bundled `default` model (spatial, f=4, 4 latent channels) from scratch.

Uses only scikit-image's bundled sample images (listed below with their licences) plus
augmentation: random crops at random scales, flips, 90-degree rotations, colour-channel
shuffles and brightness/contrast jitter. Re-running the same command resumes the run from
its last checkpoint (the run folder keeps optimiser state and history).

    pip install scikit-image
    python scripts/train_default_model.py --work build/default-run
    # then copy build/default-run/default.safetensors to latentfx/weights/

Needs scikit-image (not a dependency of latentfx itself).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

# name in skimage.data -> licence, as stated in scikit-image's own docstrings.
TRAINING_IMAGES = {
    "astronaut": "public domain (NASA)",
    "camera": "CC0 (Lav Varshney)",
    "chelsea": "CC0 (Stefan van der Walt)",
    "coffee": "CC0 (Rachel Michetti)",
    "coins": "no known copyright restrictions (Brooklyn Museum)",
    "hubble_deep_field": "public domain (NASA/ESA)",
    "immunohistochemistry": "no known copyright restrictions (Jeroen van der Laak)",
    "moon": "no known copyright restrictions",
    "rocket": "public domain (SpaceX)",
    "retina": "CC0 (Mikael Häggström)",
    "brick": "CC0 (scikit-image)",
    "grass": "CC0 (scikit-image)",
    "gravel": "CC0 (scikit-image)",
    "cell": "CC0 (scikit-image)",
    "page": "public domain",
    "text": "public domain",
    "colorwheel": "CC0 (scikit-image)",
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
