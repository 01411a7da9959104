"""Training throughput of `latentfx train` at 64x64 on the CPU, for both families with their
default settings, and for the vector family's earlier default widths (32, 64, 128, 128),
measured in one run on the same generated images.

    python benchmarks/train_speed.py [--steps 60] [--threads N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


# (name, family, widths): None is the family's default.
RUNS = (("vector", "vector", None), ("spatial", "spatial", None),
        ("vector-32-wide", "vector", (32, 64, 128, 128)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()

    import torch

    from latentfx.datasets.shapes import write_dataset
    from pipelines import train

    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "images"
        write_dataset(folder, 256, size=64)
        rates = {}
        for name, family, widths in RUNS:
            spec = train.TrainSpec(folder=str(folder), output=str(Path(tmp) / f"{name}.safetensors"),
                                   family=family, size=64, steps=args.steps, widths=widths,
                                   save_every=args.steps, device="cpu")
            rates[name] = train.run(spec).images_per_second
            print(f"{name:<14} batch {spec.batch}, 64x64: {rates[name]:.1f} images/s "
                  f"({torch.get_num_threads()} threads)")
        print(f"spatial / vector throughput ratio: {rates['spatial'] / rates['vector']:.2f}")
        print(f"vector default / earlier widths throughput ratio: "
              f"{rates['vector'] / rates['vector-32-wide']:.2f}")


if __name__ == "__main__":
    main()
