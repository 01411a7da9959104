"""Train the bundled `glyphs` model (vector family) on capitals of real typefaces.

    pip install -e ".[bundled-training,fonts]"
    python scripts/train_glyphs_model.py --work build/glyphs-run
    # then copy build/glyphs-run/glyphs.safetensors to latentfx/weights/

Re-running the same command resumes from the last checkpoint. The faces in HELD_OUT are left
out of training, so benchmarks/meaning.py can score the model on typefaces it never saw.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

# One face of each kind a user may bring: sans, serif, bold, italic, bold italic.
HELD_OUT = ("Open Sans", "Source Serif Pro Bold", "Lato Italic", "Caladea Bold Italic",
            "DejaVu Sans Mono")
DATASET = dict(chars="A-Z", copies=8, jitter=1.0, seed=0, size=64)
RECIPE = dict(family="vector", size=64, latent="32", widths=(16, 32, 64, 128), blocks=1,
              batch=32, lr=2e-3, beta=1e-1, kl_warmup=500, seed=0, fit="center-crop",
              augment="none", save_every=250)
# The labels the latent space is guided by: the character and the style flags (not the font
# family: a user's letters come in faces the model never saw).
GUIDE_COLUMNS = ("char_", "bold", "italic", "serif", "mono")


def training_faces():
    from latentfx.datasets.typefaces import font_set

    return [face for face in font_set("all") if face.name not in HELD_OUT]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("build/glyphs-run"))
    parser.add_argument("--steps", type=int, default=16000)
    args = parser.parse_args()

    from bundled_training import train_recipe
    from latentfx.datasets.glyphs import write_dataset

    images = args.work / "images"
    if not (images / "labels.csv").exists():
        write_dataset(images, faces=training_faces(), **DATASET)
    guide = guide_table(images)
    train_recipe(images=images, output=args.work / "glyphs.safetensors", steps=args.steps,
                 recipe={**RECIPE, "labels": str(guide)})


def guide_table(images: Path) -> Path:
    """labels.csv's path column and GUIDE_COLUMNS, as guide.csv beside it."""
    import csv

    with open(images / "labels.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    keep = ["path"] + [c for c in rows[0] if c.startswith(GUIDE_COLUMNS)]
    guide = images / "guide.csv"
    with open(guide, "w", newline="") as fh:
        writer = csv.DictWriter(fh, keep, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return guide


if __name__ == "__main__":
    main()
