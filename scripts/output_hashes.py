"""Render a fixed set of outputs with the bundled models and print a hash of every picture.

Run it before and after a change that must not change what latentfx renders (a refactor),
and compare the two listings: any difference names the output that moved.

    python scripts/output_hashes.py build/hashes-before > before.txt
    ... change the code ...
    python scripts/output_hashes.py build/hashes-after > after.txt
    diff before.txt after.txt

The hashes are of decoded pixels (RGB bytes), so PNG encoder settings do not matter.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "latentfx" / "samples"
CAT, CUP = str(SAMPLES / "chelsea.jpg"), str(SAMPLES / "coffee.jpg")
TABBY = str(SAMPLES / "tabby.jpg")  # the cat closer and turned: the demo's morph

# (name, arguments): the demo walk, then one output of every kind of rendering.
JOBS = [
    ("demo", ["walk", CAT, TABBY, CUP, "--loop", "--residual", "--hold", "12", "--duration",
              "9", "-o", "{out}/demo.mp4", "--frames-dir", "{out}/demo_frames",
              "--sheet", "{out}/demo-sheet.png"]),
    ("dream", ["walk", "--random", "-m", "shapes", "--loop", "--frames", "6",
               "-o", "{out}/dream_frames/"]),
    ("compare", ["walk", CAT, CUP, "--frames", "8", "--compare", "--pacing", "uniform",
                 "-o", "{out}/compare_frames/"]),
    ("sample-shapes", ["sample", "-m", "shapes", "-n", "8", "--seed", "3",
                       "-o", "{out}/sample_shapes.png"]),
    ("sample-default", ["sample", "-n", "4", "--seed", "1", "-o", "{out}/sample_default.png"]),
    ("reconstruct", ["reconstruct", CAT, "-o", "{out}/reconstruct.png"]),
    ("transfer", ["transfer", CUP, "-m", "shapes", "-o", "{out}/transfer.png"]),
    ("mix", ["mix", f"{CAT}:0.5", f"{CUP}:0.5", "-o", "{out}/mix.png"]),
]


def pixel_hash(path: Path) -> str:
    from PIL import Image

    with Image.open(path) as image:
        return hashlib.sha256(image.convert("RGB").tobytes()).hexdigest()[:16]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work", type=Path, help="Folder to render into (emptied first).")
    args = parser.parse_args()
    out = args.work.resolve()
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    latentfx = [sys.executable, str(ROOT / "cli.py")]
    for name, arguments in JOBS:
        done = subprocess.run(latentfx + [a.format(out=out) for a in arguments],
                              capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"{name} failed:\n{done.stderr}")
    for path in sorted(out.rglob("*.png")):
        print(pixel_hash(path), path.relative_to(out))


if __name__ == "__main__":
    main()
