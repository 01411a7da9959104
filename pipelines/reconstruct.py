"""reconstruct: images -> a grid of originals beside their reconstructions, with PSNR/SSIM."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from latentfx.errors import InputError, Interrupted, Skipped
from latentfx.io.outputs import IMAGE_OUTPUTS, check_output_file
from latentfx.options import INFERENCE_FITS
from pipelines.specs import ModelSpec, input_path, output_path

DISPLAY_MAX_SIDE = 512  # grid cells are at most this big; metrics use full resolution


@dataclass
class ReconstructSpec(ModelSpec):
    images: list[str] = input_path()
    output: str = output_path()
    model: str | None = None
    fit: str = "center-crop"  # vector models only
    max_side: int | None = 2048  # spatial models: bigger images are downscaled first
    device: str = "auto"

    def validate(self) -> None:
        if not self.images:
            raise InputError("give at least one image to reconstruct")
        if self.fit not in INFERENCE_FITS:
            raise InputError(f"--fit must be one of {', '.join(INFERENCE_FITS)}, got {self.fit!r}")
        if self.max_side is not None and self.max_side < 8:
            raise InputError(f"--max-side must be at least 8, got {self.max_side}")
        check_output_file(self.output, suffixes=IMAGE_OUTPUTS)


@dataclass
class ImageScore:
    path: str
    psnr: float
    ssim: float
    size: tuple[int, int]  # (width, height) the model saw


@dataclass
class ReconstructResult:
    output: Path
    model_id: str
    scores: list[ImageScore]
    skipped: list[Skipped] = field(default_factory=list)


def run(spec: ReconstructSpec, *, progress: Callable[[int, int, str], None] | None = None,
        cancel: Callable[[], bool] | None = None) -> ReconstructResult:
    import torch

    from latentfx.images.grids import fit_into, make_grid, save_image
    from latentfx.images.loading import load_or_skip
    from latentfx.images.metrics import psnr, ssim
    from latentfx.images.resizing import for_model
    from latentfx.io.manifests import input_record, write_manifest

    # 1. Check inputs and load the model.
    spec.validate()
    started = time.perf_counter()
    model, info = spec.load_model()

    # 2. Reconstruct each image; a bad file is skipped, not fatal.
    pairs, scores, skipped, inputs = [], [], [], []
    for i, path in enumerate(spec.images):
        if cancel and cancel():
            raise Interrupted(f"cancelled after {len(pairs)} of {len(spec.images)} images; "
                              f"nothing written")
        image = load_or_skip(path, skipped)
        if image is None:
            continue
        x = for_model(image, model, fit=spec.fit, max_side=spec.max_side)
        recon = model.reconstruct(x[None].to(model.device))[0].cpu()
        scores.append(ImageScore(str(path), psnr(recon, x), ssim(recon, x),
                                 (x.shape[-1], x.shape[-2])))
        pairs.append((x, recon))
        inputs.append(input_record(path))
        if progress:
            progress(i + 1, len(spec.images), Path(path).name)
    if not pairs:
        raise InputError("no image could be reconstructed: " +
                         "; ".join(f"{s.path}: {s.reason}" for s in skipped))

    # 3. Lay out originals | reconstructions, one row per image, and save.
    cell_h, cell_w = _cell_size(pairs)
    cells = [fit_into(t, cell_h, cell_w) for pair in pairs for t in pair]
    save_image(make_grid(torch.stack(cells), nrow=2), spec.output)
    write_manifest(spec.output, job="reconstruct", spec=asdict(spec), model_id=info.model_id,
                   inputs=inputs, skipped=skipped,
                   timings={"seconds": round(time.perf_counter() - started, 3)},
                   results={"scores": [asdict(s) for s in scores]})
    return ReconstructResult(Path(spec.output), info.model_id, scores, skipped)


def _cell_size(pairs) -> tuple[int, int]:
    h = max(x.shape[-2] for x, _ in pairs)
    w = max(x.shape[-1] for x, _ in pairs)
    scale = min(1.0, DISPLAY_MAX_SIDE / max(h, w))
    return max(1, round(h * scale)), max(1, round(w * scale))
