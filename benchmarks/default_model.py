"""Measure a spatial model against the default model's targets, in one run:

- held-out PSNR / SSIM at native resolution (target: mean PSNR >= 26 dB),
- compression 3*H*W / latent size (target: >= 12x),
- decoder frames/s at 256x256 and 512x512 on this CPU (target: >= 8 fps at 512x512).

    pip install -e ".[bundled-training]"   # scikit-image; with scikit-learn: the photos
    python benchmarks/default_model.py [-m MODEL] [--threads N]

Prints one line per photograph, then the summary with each measure's ratio to its target.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

TARGET_PSNR, TARGET_COMPRESSION, TARGET_FPS_512 = 26.0, 12.0, 8.0


def quality(model) -> tuple[list[float], list[float], list[float]]:
    from heldout import heldout_photographs
    from latentfx.images.loading import image_to_tensor, load_image
    from latentfx.images.metrics import psnr, ssim

    psnrs, ssims, ratios = [], [], []
    for name, path in heldout_photographs().items():
        x = image_to_tensor(load_image(path))
        recon = model.reconstruct(x[None].contiguous())[0]
        h, w = x.shape[-2:]
        psnrs.append(psnr(recon, x))
        ssims.append(ssim(recon, x))
        ratios.append(model.compression(h, w))
        print(f"  {name:<36} {w}x{h}  PSNR {psnrs[-1]:.2f} dB  SSIM {ssims[-1]:.3f}  "
              f"compression {ratios[-1]:.1f}x")
    return psnrs, ssims, ratios


def decoder_fps(model, side: int, *, repeats: int = 7) -> float:
    import torch

    z = torch.randn(1, *model.latent_shape(side, side)).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        model.decode(z)  # warm-up: oneDNN picks its kernels on the first call
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            model.decode(z)
            times.append(time.perf_counter() - started)
    return 1.0 / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-m", "--model", default="default")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    args = parser.parse_args()

    import torch

    from latentfx.models.loading import load_model

    if args.threads:
        torch.set_num_threads(args.threads)
    model, info = load_model(args.model, device="cpu")
    print(f"model {args.model} ({info.model_id[:16]}), {torch.get_num_threads()} CPU threads")
    psnrs, ssims, ratios = quality(model)
    fps = {side: decoder_fps(model, side) for side in (256, 512)}
    mean_psnr = statistics.mean(psnrs)
    print(f"held-out mean PSNR {mean_psnr:.2f} dB (target {TARGET_PSNR}: ratio "
          f"{mean_psnr / TARGET_PSNR:.3f}), mean SSIM {statistics.mean(ssims):.3f}")
    # Sides that are not multiples of the model's factor are padded before encoding, and the
    # padding is counted: that is why a 427-pixel-high photo gets 11.97x, not 12x.
    square = model.compression(512, 512)
    print(f"compression {square:.2f}x at 512x512 (target {TARGET_COMPRESSION}: ratio "
          f"{square / TARGET_COMPRESSION:.3f}); on these photos {min(ratios):.2f}x to "
          f"{max(ratios):.2f}x, padding to a multiple of {model.config.factor} counted")
    print(f"decoder {fps[256]:.1f} frames/s at 256x256, {fps[512]:.1f} frames/s at 512x512 "
          f"(target {TARGET_FPS_512} at 512: ratio {fps[512] / TARGET_FPS_512:.2f})")


if __name__ == "__main__":
    main()
