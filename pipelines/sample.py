"""sample: random latents from the prior through the decoder -> an image grid."""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from latentfx.errors import InputError
from latentfx.outputs import IMAGE_OUTPUTS, check_output_file


@dataclass
class SampleSpec:
    output: str
    n: int = 16
    seed: int = 0
    model: str | None = None
    size: tuple[int, int] | None = None  # (width, height); spatial models only
    temperature: float = 1.0
    device: str = "auto"

    def validate(self) -> None:
        if not 1 <= self.n <= 1024:
            raise InputError(f"-n must be between 1 and 1024, got {self.n}")
        if self.temperature <= 0:
            raise InputError(f"--temperature must be positive, got {self.temperature}")
        if self.size is not None and min(self.size) < 8:
            raise InputError(f"--size must be at least 8x8, got {self.size[0]}x{self.size[1]}")
        check_output_file(self.output, suffixes=IMAGE_OUTPUTS)


@dataclass
class SampleResult:
    output: Path
    model_id: str
    size: tuple[int, int]


SPATIAL_DEFAULT_SIZE = (256, 256)


def run(spec: SampleSpec, *, progress: Callable[[int, int, str], None] | None = None,
        cancel: Callable[[], bool] | None = None) -> SampleResult:
    import torch

    from latentfx.batching import map_batches
    from latentfx.grids import make_grid, save_image
    from latentfx.loading import load_model
    from latentfx.manifest import write_manifest

    # 1. Check inputs, load the model, settle the size.
    spec.validate()
    started = time.perf_counter()
    model, info = load_model(spec.model, device=spec.device)
    if model.config.family == "vector":
        if spec.size is not None:
            raise InputError(f"--size applies to spatial models only; this vector model "
                             f"renders {model.config.image_size}x{model.config.image_size}")
        width = height = model.config.image_size
    else:
        width, height = spec.size or SPATIAL_DEFAULT_SIZE

    # 2. Draw z ~ N(0, T^2 I) with a CPU generator (same numbers on every device) and decode.
    g = torch.Generator().manual_seed(spec.seed)
    z = model.sample_prior(spec.n, height=height, width=width, generator=g,
                           temperature=spec.temperature)
    with torch.inference_mode():
        images = map_batches(lambda zb: model.decode(zb, size=(height, width)).cpu(),
                             z, batch=16, progress=progress, message="decoding")

    # 3. Save the grid and its manifest.
    save_image(make_grid(images, nrow=math.ceil(math.sqrt(spec.n))), spec.output)
    write_manifest(spec.output, job="sample", spec=asdict(spec), model_id=info.model_id,
                   inputs=[], seeds={"seed": spec.seed},
                   timings={"seconds": round(time.perf_counter() - started, 3)})
    return SampleResult(Path(spec.output), info.model_id, (width, height))
