"""Training throughput of `latentfx train` at 64x64 on the CPU, for both families with their
default settings, measured in one run on the same generated images.

    python benchmarks/train_speed.py [--steps 60] [--threads N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


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
        for family in ("vector", "spatial"):
            spec = train.TrainSpec(folder=str(folder), output=str(Path(tmp) / f"{family}.safetensors"),
                                   family=family, size=64, steps=args.steps,
                                   save_every=args.steps, device="cpu")
            rates[family] = train.run(spec).images_per_second
            print(f"{family:<8} default settings, batch {spec.batch}, 64x64: "
                  f"{rates[family]:.1f} images/s ({torch.get_num_threads()} threads)")
        print(f"spatial / vector throughput ratio: {rates['spatial'] / rates['vector']:.2f}")


if __name__ == "__main__":
    main()
