"""sample: random latents from a prior through the decoder -> an image grid.

The prior is N(0, I) or the Gaussian mixture fitted to the model's encoded training data
(--prior; latentfx/priors/). Only a vector model is a generator: a spatial model's prior
draws decode to texture noise, and the result says so."""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from latentfx.errors import InputError
from latentfx.io.outputs import IMAGE_OUTPUTS, check_output_file
from latentfx.priors.choice import check_prior_option
from pipelines.specs import ModelSpec, output_path


@dataclass
class SampleSpec(ModelSpec):
    output: str = output_path()
    n: int = 16
    seed: int = 0
    model: str | None = None
    size: tuple[int, int] | None = None  # (width, height); spatial models only
    temperature: float = 1.0
    prior: str | None = None  # "normal" or "data"; default: the model's (resolved())
    labels: bool = False  # caption each cell with its seed:N
    device: str = "auto"

    def validate(self) -> None:
        if not 1 <= self.n <= 1024:
            raise InputError(f"-n must be between 1 and 1024, got {self.n}")
        if self.temperature <= 0:
            raise InputError(f"--temperature must be positive, got {self.temperature}")
        check_prior_option(self.prior)
        if self.size is not None and min(self.size) < 8:
            raise InputError(f"--size must be at least 8x8, got {self.size[0]}x{self.size[1]}")
        check_output_file(self.output, suffixes=IMAGE_OUTPUTS)

    def resolved(self) -> "SampleSpec":
        """The prior settled from the model file, so the manifest says what was drawn."""
        from latentfx.priors.choice import resolve_prior  # reads the model file: here only

        return dataclasses.replace(self, prior=resolve_prior(self.model, self.prior))


@dataclass
class SampleResult:
    output: Path
    model_id: str
    size: tuple[int, int]
    prior: str = "normal"
    notes: list[str] = field(default_factory=list)


SPATIAL_DEFAULT_SIZE = (256, 256)
NOT_A_GENERATOR = (
    "a spatial model is not a generator: its latent pixels are drawn independently, so "
    "prior samples decode to texture noise, not pictures. For samples that look like the "
    "data, use a vector model (-m shapes); to explore a spatial model, walk or transfer "
    "between real images (`latentfx walk a.jpg b.jpg`, `latentfx transfer`).")


def run(spec: SampleSpec, *, progress: Callable[[int, int, str], None] | None = None,
        cancel: Callable[[], bool] | None = None) -> SampleResult:
    import torch

    from latentfx.images.contact_sheets import Cell, contact_sheet
    from latentfx.images.grids import make_grid, save_image
    from latentfx.io.manifests import write_manifest
    from latentfx.runtime.oom import map_batches
    from latentfx.walk.keyframes import prior_latent

    # 1. Check inputs and settle the prior, load the model, settle the size.
    spec = spec.checked()
    started = time.perf_counter()
    model, info = spec.load_model()
    if model.native_size is not None and spec.size is not None:
        native_height, native_width = model.native_size
        raise InputError(f"--size applies to spatial models only; this {model.config.family} "
                         f"model renders {native_width}x{native_height}")
    width, height = spec.size or SPATIAL_DEFAULT_SIZE
    height, width = model.working_size(height, width)

    notes = [] if model.is_generator else [NOT_A_GENERATOR]

    # 2. Cell i is the latent `seed:(seed + i)` stands for in walks and mixes (a CPU draw
    #    from the prior: the same numbers on every device), so any cell can become a keyframe.
    seeds = [spec.seed + i for i in range(spec.n)]
    z = torch.cat([prior_latent(model, s, height=height, width=width,
                                temperature=spec.temperature, prior=spec.prior)
                   for s in seeds])
    with torch.inference_mode():
        images = map_batches(lambda zb: model.decode(zb, size=(height, width)).cpu(),
                             z, batch=16, progress=progress, message="decoding")

    # 3. Save the grid and its manifest.
    columns = math.ceil(math.sqrt(spec.n))
    if spec.labels:
        contact_sheet([Cell(image, f"seed:{s}") for image, s in zip(images, seeds)],
                      spec.output, columns=columns)
    else:
        save_image(make_grid(images, nrow=columns), spec.output)
    write_manifest(spec.output, job="sample", spec=asdict(spec), model_id=info.model_id,
                   inputs=[], seeds={"cells": [f"seed:{s}" for s in seeds]},
                   timings={"seconds": round(time.perf_counter() - started, 3)},
                   results={"prior": spec.prior, "notes": notes})
    return SampleResult(Path(spec.output), info.model_id, (width, height), spec.prior, notes)
