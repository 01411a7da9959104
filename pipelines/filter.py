"""filter: the classic 3x3 convolutions (blur, sharpen, edge, emboss, outline) on an image,
with zero padding, so the output has the input's size: what a convolution layer does, by
hand."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from latentfx.errors import InputError
from latentfx.io.outputs import IMAGE_OUTPUTS, check_output_file
from pipelines.specs import Spec, input_path, output_path

KERNELS = {
    "blur": [1 / 16, 2 / 16, 1 / 16, 2 / 16, 4 / 16, 2 / 16, 1 / 16, 2 / 16, 1 / 16],
    "sharpen": [0, -1, 0, -1, 5, -1, 0, -1, 0],
    "edge": [0, 1, 0, 1, -4, 1, 0, 1, 0],
    "emboss": [-2, -1, 0, -1, 1, 1, 0, 1, 2],
    "outline": [-1, -1, -1, -1, 8, -1, -1, -1, -1],
}


@dataclass
class FilterSpec(Spec):
    image: str = input_path()
    output: str = output_path()
    kernel: str | None = None
    matrix: tuple[float, ...] | None = None  # nine numbers, row by row

    def weights(self) -> list[float]:
        if (self.kernel is None) == (self.matrix is None):
            raise InputError("give --kernel NAME or --matrix with nine numbers (one of them)")
        if self.kernel is not None:
            if self.kernel not in KERNELS:
                raise InputError(f"--kernel must be one of {', '.join(KERNELS)}, "
                                 f"got {self.kernel!r}")
            return KERNELS[self.kernel]
        if len(self.matrix) != 9:
            raise InputError(f"--matrix needs 9 numbers (3x3, row by row), got "
                             f"{len(self.matrix)}")
        return list(self.matrix)

    def validate(self) -> None:
        self.weights()
        check_output_file(self.output, suffixes=IMAGE_OUTPUTS)


@dataclass
class FilterResult:
    output: Path
    size: tuple[int, int]


def convolve3x3(image, weights: list[float]):
    """(3, H, W) -> (3, H, W): the same 3x3 kernel on each channel, zero padding, clamped."""
    import torch
    import torch.nn.functional as F

    kernel = torch.tensor(weights, dtype=image.dtype).reshape(1, 1, 3, 3).repeat(3, 1, 1, 1)
    return F.conv2d(image[None], kernel, padding=1, groups=3)[0].clamp(0, 1)


def run(spec: FilterSpec, *, progress: Callable[[int, int, str], None] | None = None,
        cancel: Callable[[], bool] | None = None) -> FilterResult:
    from latentfx.images.grids import save_image
    from latentfx.images.loading import image_to_tensor, load_image
    from latentfx.io.manifests import input_record, write_manifest

    spec.validate()
    started = time.perf_counter()
    image = image_to_tensor(load_image(spec.image))
    save_image(convolve3x3(image, spec.weights()), spec.output)
    write_manifest(spec.output, job="filter", spec=asdict(spec), model_id=None,
                   inputs=[input_record(spec.image)],
                   timings={"seconds": round(time.perf_counter() - started, 3)},
                   results={"kernel": spec.weights()})
    return FilterResult(Path(spec.output), (image.shape[-1], image.shape[-2]))
