"""Train the bundled `shapes` model (vector family) on latentfx's own procedural dataset.

    python scripts/train_shapes_model.py --work build/shapes-run
    # then copy build/shapes-run/shapes.safetensors to latentfx/weights/

Re-running the same command resumes from the last checkpoint.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

# Enough distinct shapes that the model learns the factors, not the items: benchmarks score it
# on shapes it never saw.
DATASET = dict(n=20000, seed=0, size=64)
RECIPE = dict(family="vector", size=64, latent="16", widths=(16, 32, 64, 128), blocks=1,
              batch=32, lr=2e-3, beta=1e-1, kl_warmup=500, seed=0, fit="center-crop",
              augment="none", save_every=250)
# The latent space is guided by the generator's labels (kind, colour, background: the 0/1
# columns of labels.csv; size and position are measurements and stay unguided).
GUIDE = "labels.csv"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("build/shapes-run"))
    parser.add_argument("--steps", type=int, default=20000)
    args = parser.parse_args()

    from bundled_training import train_recipe
    from latentfx.datasets.shapes import write_dataset

    images = args.work / "images"
    if not (images / "labels.csv").exists():
        write_dataset(images, DATASET["n"], seed=DATASET["seed"], size=DATASET["size"])
    train_recipe(images=images, output=args.work / "shapes.safetensors", steps=args.steps,
                 recipe={**RECIPE, "labels": str(images / GUIDE)})


if __name__ == "__main__":
    main()
