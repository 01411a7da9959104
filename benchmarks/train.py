"""Training data at scale on the CPU: images/s and peak memory of the streaming loader
against decoding everything up front, in 1 and 2 processes, at 64x64 and 256x256; and the
streaming loader's peak RSS at 2,000 against 20,000 images (it should stay within 1.3x).

    python benchmarks/train.py [--steps 40] [--counts 2000,20000] [--sizes 64,256]
    python benchmarks/train.py --tiny      # a smoke run: small images, few steps

The old in-memory loader is gone; its baseline here (`upfront`) decodes and fits every image
into a list of uint8 tensors before the first step, as it did, and then trains with the same
loop. Each measurement runs in a fresh process (two under torch.distributed.run for 2), so
peak RSS is that run's own: the highest of its processes, DataLoader workers included.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1, help="decoding processes per run")
    parser.add_argument("--sizes", default="64,256")
    parser.add_argument("--images", type=int, default=512, help="images for the speed runs")
    parser.add_argument("--counts", default="2000,20000", help="images for the memory runs")
    parser.add_argument("--tiny", action="store_true", help="smoke run at a tiny size")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # a single measurement (internal)
    args = parser.parse_args()
    if args.one:
        return measure(json.loads(args.one))
    if args.tiny:
        args.steps, args.sizes, args.images, args.counts = 3, "32", 32, "40,400"

    with tempfile.TemporaryDirectory() as tmp:
        for size in map(int, args.sizes.split(",")):
            folder = images(Path(tmp) / f"speed-{size}", args.images, size)
            for nproc in (1, 2):
                for loader in ("streaming", "upfront"):
                    run = dict(folder=str(folder), size=size, loader=loader, steps=args.steps,
                               batch=args.batch, workers=args.workers)
                    got = in_processes(run, nproc)
                    print(f"{size:>3}x{size:<3} {nproc} process(es) {loader:<9} "
                          f"{got['images_per_second']:8.1f} images/s  peak RSS "
                          f"{got['peak_rss_mb']:7.0f} MB")
        peaks = []
        for count in map(int, args.counts.split(",")):
            folder = images(Path(tmp) / f"count-{count}", count, 64)
            got = in_processes(dict(folder=str(folder), size=64, loader="streaming",
                                    steps=args.steps, batch=args.batch,
                                    workers=args.workers), 1)
            peaks.append(got["peak_rss_mb"])
            print(f"{count:>6} images, streaming, 64x64: peak RSS {got['peak_rss_mb']:.0f} MB")
        print(f"peak RSS ratio, most to fewest images: {peaks[-1] / peaks[0]:.2f} "
              f"(bounded memory: at most 1.3)")


def images(folder: Path, count: int, size: int) -> Path:
    from latentfx.datasets.shapes import write_dataset

    write_dataset(folder, count, size=size)
    return folder


def in_processes(run: dict, nproc: int) -> dict:
    """One measurement in fresh processes; its rank 0's images/s and the highest peak RSS."""
    one = [str(Path(__file__).resolve()), "--one", json.dumps(run)]
    if nproc > 1:
        one = ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
               str(nproc), *one]
    done = subprocess.run([sys.executable, *one], capture_output=True, text=True, cwd=ROOT)
    if done.returncode:
        raise SystemExit(done.stderr[-3000:])
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    rates = [r["images_per_second"] for r in rows if "images_per_second" in r]  # rank 0's
    return {"images_per_second": rates[0] if rates else 0.0,
            "peak_rss_mb": max(r["peak_rss_mb"] for r in rows)}


def measure(run: dict) -> None:
    """Train `run["steps"]` steps of a small spatial model; print JSON (rank 0: with the rate)."""
    import torch

    from latentfx.models import build_model
    from latentfx.models.defaults import FAMILY_DEFAULTS
    from latentfx.training.data import TrainingImages, scan_training_files
    from latentfx.training.distributed import ranks_from_environment, start, stop, wrap
    from latentfx.training.loop import TrainOptions, TrainState, make_optimizer, train_steps

    torch.set_num_threads(1)  # two processes on a shared machine: one core each
    ranks = ranks_from_environment()
    files = scan_training_files(run["folder"])
    kind = _upfront_class() if run["loader"] == "upfront" else TrainingImages
    data = kind(files, size=run["size"], fit="center-crop", mode="flip", seed=0)
    options = TrainOptions(steps=run["steps"], batch=run["batch"], save_every=10 ** 9)
    device = start(ranks, torch.device("cpu"), batch=options.batch)
    torch.manual_seed(0)
    config = FAMILY_DEFAULTS["spatial"].config(size=run["size"], latent="4:4", widths=None,
                                               blocks=1)
    model = build_model(config).to(memory_format=torch.channels_last)
    opt = make_optimizer(model, options.lr)
    state = train_steps(model, opt, data, options, TrainState(), device=device,
                        on_save=lambda state: None, workers=run["workers"], ranks=ranks,
                        forward=wrap(model, ranks, device))
    stop(ranks)
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    row = {"peak_rss_mb": max(own, workers) / 1024}  # Linux: kilobytes
    if ranks.main:
        row["images_per_second"] = state.images_seen / state.seconds
    print(json.dumps(row), flush=True)


def _upfront_class():
    from latentfx.images.loading import image_to_tensor, load_image
    from latentfx.training.data import TrainingImages, fit_image

    class UpFront(TrainingImages):
        """The old way: every image decoded and fitted before the first step, kept in RAM."""

        def __init__(self, files, **settings):
            super().__init__(files, **settings)
            self.kept = [fit_image(image_to_tensor(load_image(files.folder / name)),
                                   size=self.size, fit=self.fit) for name in files.names]

        def _decoded(self, index: int):
            return self.kept[index], index, []

    return UpFront


if __name__ == "__main__":
    main()
