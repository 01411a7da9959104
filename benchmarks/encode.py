"""How fast `latentfx encode` turns a folder of JPEGs into a latent store, and how much memory.

In one run, on generated JPEGs (the shapes dataset at --side pixels) with the bundled model:
  (a) encode images/s (start-up, hashing, decoding, encoding, saving) divided by
      encoder-only images/s on the same images already decoded in memory, same model and
      batch (target >= 0.85 on 2 cores);
  (b) peak resident memory of the encode for --count images, against the same for a tenth of
      them: it must not grow with the folder beyond the store itself.

    python benchmarks/encode.py [--count 20000] [--model shapes] [--side 64] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TARGET_RATIO = 0.85

# Runs in a fresh process, so that its peak memory is its own.
ENCODE = """
import json, resource, sys, time
sys.path.insert(0, {root!r})
from pipelines import encode
started = time.perf_counter()
result = encode.run(encode.EncodeSpec(folder={folder!r}, output={output!r}, model={model!r},
                                      device="cpu", batch={batch}, workers={workers!r}))
seconds = time.perf_counter() - started
# This process's own high-water mark: ru_maxrss would carry over the benchmark's (which holds
# every decoded image) across fork and exec.
try:
    status = open("/proc/self/status").read()
    peak = int(status.split("VmHWM:")[1].split()[0])
except (OSError, IndexError, ValueError):
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"count": result.count, "seconds": seconds, "peak_kib": peak}}))
"""


def make_jpegs(folder: Path, count: int, side: int) -> None:
    from latentfx.datasets.shapes import factors_for, render

    folder.mkdir(parents=True)
    for i in range(count):
        render(factors_for(i, seed=3), size=side).save(
            folder / f"{i:06d}.jpg", quality=92)


def encode_in_process(folder: Path, output: Path, model: str, batch: int,
                      workers: int | None) -> dict:
    code = ENCODE.format(root=str(Path(__file__).resolve().parents[1]), folder=str(folder),
                         output=str(output), model=model, batch=batch, workers=workers)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


class EncoderOnly:
    """The model alone on the same images, decoded and fitted beforehand (in memory)."""

    def __init__(self, folder: Path, model_name: str, batch: int):
        import torch

        from latentfx.images.batches import fitted_picture
        from latentfx.models.loading import load_model

        self.model, _ = load_model(model_name, device="cpu")
        size = self.model.working_size(128, 128)  # as encode's default size
        self.images = torch.stack([fitted_picture(p, size, "crop")  # decoded as encode does
                                   for p in sorted(folder.iterdir())])
        self.batch = batch

    def rate(self) -> float:
        """images/s."""
        import torch

        with torch.inference_mode():
            self.model.encode(self.images[: self.batch])  # warm-up
            started = time.perf_counter()
            for i in range(0, len(self.images), self.batch):
                self.model.encode(self.images[i: i + self.batch]).mode()
        return len(self.images) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20000)
    parser.add_argument("--model", default="shapes")
    parser.add_argument("--side", type=int, default=64, help="JPEG side in pixels")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--workers", type=int, default=None,
                        help="image decoders, as `latentfx encode --workers` (default: auto)")
    parser.add_argument("--work", type=Path, default=None,
                        help="Folder for the generated JPEGs, kept and reused by later runs "
                             "with the same --count and --side (default: a new temp folder)")
    args = parser.parse_args()

    work = args.work / f"{args.count}-{args.side}" if args.work else \
        Path(tempfile.mkdtemp(prefix="latentfx-encode-bench-"))
    small, large = work / "small", work / "large"
    if not (large.is_dir() and small.is_dir()):
        print(f"writing {args.count} + {args.count // 10} JPEGs of {args.side}x{args.side} ...")
        make_jpegs(large, args.count, args.side)
        make_jpegs(small, args.count // 10, args.side)
    for old in work.glob("*.safetensors*"):  # a store left by an earlier run would be reused
        old.unlink()

    # The machine's speed drifts over minutes (shared cores): the model alone is timed just
    # before and just after the encode, and the encode compared with their mean.
    alone = EncoderOnly(large, args.model, args.batch)
    before = alone.rate()
    big = encode_in_process(large, work / "large.safetensors", args.model, args.batch,
                            args.workers)
    after = alone.rate()
    del alone
    little = encode_in_process(small, work / "small.safetensors", args.model, args.batch,
                               args.workers)
    model_only = (before + after) / 2
    pipeline = big["count"] / big["seconds"]
    print(f"(a) encode {pipeline:.0f} images/s (all steps) / encoder alone {model_only:.0f} "
          f"images/s (before {before:.0f}, after {after:.0f}) = {pipeline / model_only:.2f} "
          f"(target {TARGET_RATIO})")

    store_mib = (work / "large.safetensors").stat().st_size / 2 ** 20
    print(f"(b) peak memory: {big['peak_kib'] / 1024:.0f} MiB for {big['count']} images, "
          f"{little['peak_kib'] / 1024:.0f} MiB for {little['count']} (store of the larger: "
          f"{store_mib:.1f} MiB); ratio {big['peak_kib'] / little['peak_kib']:.2f}")


if __name__ == "__main__":
    main()
