"""How fast `latentfx walk` renders, against the decoder alone and against a naive recipe.

For the default model at 256x256 and 512x512, in one run:
  (a) walk frames/s / decoder-only frames/s, same model, latents and batch
      (target >= 0.9: the rest of the pipeline hides behind the decoder);
  (b) decoder FLOP/s / dense float32 matmul FLOP/s, both measured here (how well the decoder
      uses the CPU);
  (c) walk frames/s / the naive recipe's (decode one frame at a time, save PNGs, run ffmpeg
      over them afterwards), same model and frames (target >= 1.5).

    python benchmarks/walk.py [--frames 96] [--rounds 3]     # about 5 minutes

Each measure is taken --rounds times, interleaved, and the median is kept (this machine is
noisy). Setup (loading the model, encoding the keyframes) is left out of every timing.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TARGET_DECODER_RATIO, TARGET_NAIVE_RATIO = 0.9, 1.5


def walk_fps(side: int, frames: int, batch: int, folder: Path) -> float:
    from latentfx.models.bundled import sample_images
    from pipelines import walk

    a, b = sample_images()[:2]
    spec = walk.WalkSpec(keyframes=[str(a), str(b)], output=str(folder / f"walk{side}.mp4"),
                         size=(side, side), frames=frames - 1, batch=batch, device="cpu",
                         ease="linear", interp="lerp")
    result = walk.run(spec)
    return result.frames / result.render_seconds


def walk_latents(model, side: int, frames: int):
    """The latents the walk decodes: a lerp between the two samples' posterior means."""
    import torch

    from latentfx.images.loading import image_to_tensor, load_image
    from latentfx.images.resizing import fit_to
    from latentfx.models.bundled import sample_images

    ends = [model.encode(fit_to(image_to_tensor(load_image(p)), side, side, "crop")[None]).mode()
            for p in sample_images()[:2]]
    t = torch.linspace(0, 1, frames).reshape(-1, 1, 1, 1)
    return ends[0] + t * (ends[1] - ends[0])


def decoder_fps(model, z, batch: int) -> float:
    import torch

    with torch.inference_mode():
        started = time.perf_counter()
        for i in range(0, len(z), batch):
            model.decode(z[i: i + batch])
    return len(z) / (time.perf_counter() - started)


def naive_fps(model, z, side: int, folder: Path) -> float:
    """What a notebook does: one frame at a time, a PNG each, then ffmpeg over the folder."""
    import torch

    from latentfx.images.loading import tensor_to_image
    from latentfx.video.ffmpeg_binary import ffmpeg_exe

    frames_dir = Path(tempfile.mkdtemp(dir=folder))
    started = time.perf_counter()
    with torch.inference_mode():
        for i in range(len(z)):
            tensor_to_image(model.decode(z[i: i + 1])[0]).save(frames_dir / f"{i:05d}.png")
    subprocess.run([ffmpeg_exe(), "-y", "-loglevel", "error", "-framerate", "24", "-i",
                    str(frames_dir / "%05d.png"), "-c:v", "libx264", "-pix_fmt", "yuv420p",
                    "-crf", "18", str(folder / f"naive{side}.mp4")], check=True)
    return len(z) / (time.perf_counter() - started)


def decoder_flops(model, side: int) -> int:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    z = torch.zeros(1, *model.latent_shape(side, side))
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model.decode(z)
    return counter.get_total_flops()


def matmul_flops_per_second(n: int = 1024, repeats: int = 20) -> float:
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    started = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n ** 3 * repeats / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=96,
                        help="frames per walk (the encoder's last ~40 frames are flushed after "
                             "the last decode: short walks understate the steady state)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    import torch

    from latentfx.models.loading import load_model

    model, info = load_model("default", device="cpu")
    print(f"default model ({info.model_id[:16]}), {torch.get_num_threads()} CPU threads, "
          f"batch {args.batch}, median of {args.rounds} interleaved rounds")
    folder = Path(tempfile.mkdtemp(prefix="latentfx-bench-"))
    for side in (256, 512):
        frames = args.frames
        z = walk_latents(model, side, frames)
        decoder_fps(model, z[: args.batch], args.batch)  # warm-up: oneDNN picks its kernels
        runs = {"walk": [], "decoder": [], "naive": [], "matmul": []}
        for _ in range(args.rounds):
            runs["decoder"].append(decoder_fps(model, z, args.batch))
            runs["walk"].append(walk_fps(side, frames, args.batch, folder))
            runs["naive"].append(naive_fps(model, z, side, folder))
            runs["matmul"].append(matmul_flops_per_second())
        fps = {k: statistics.median(v) for k, v in runs.items()}
        decoder_rate = decoder_flops(model, side) * fps["decoder"]
        print(f"{side}x{side}, {frames} frames: walk {fps['walk']:.1f} frames/s, decoder alone "
              f"{fps['decoder']:.1f}, naive recipe {fps['naive']:.1f}")
        print(f"  (a) walk / decoder: {fps['walk'] / fps['decoder']:.2f} "
              f"(target {TARGET_DECODER_RATIO})")
        print(f"  (b) decoder {decoder_rate / 1e9:.1f} GFLOP/s / matmul "
              f"{fps['matmul'] / 1e9:.1f} GFLOP/s: {decoder_rate / fps['matmul']:.2f}")
        print(f"  (c) walk / naive recipe: {fps['walk'] / fps['naive']:.2f} "
              f"(target {TARGET_NAIVE_RATIO})")


if __name__ == "__main__":
    main()
