"""apply: move an image's latent along one or more attribute vectors, z + sum(s_i * v_i),
and decode it; --residual keeps the photo's own detail, as in walks."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from latentfx.errors import InputError
from latentfx.outputs import IMAGE_OUTPUTS, check_output_file


@dataclass
class ApplySpec:
    image: str
    output: str
    vectors: list[tuple[str, float]] = field(default_factory=list)  # (file, strength)
    model: str | None = None
    residual: bool = False
    size: tuple[int, int] | None = None
    fit: str = "crop"
    device: str = "auto"

    def validate(self) -> None:
        if not self.vectors:
            raise InputError("give at least one attribute vector")
        check_output_file(self.output, suffixes=IMAGE_OUTPUTS)


@dataclass
class ApplyResult:
    output: Path
    size: tuple[int, int]


def run(spec: ApplySpec, *, progress: Callable[[int, int, str], None] | None = None,
        cancel: Callable[[], bool] | None = None) -> ApplyResult:
    import torch

    from latentfx.attribute_vectors import AttributeVector
    from latentfx.fitting import fit_to
    from latentfx.grids import save_image
    from latentfx.keyframes import load_keyframe
    from latentfx.loading import load_model
    from latentfx.manifest import input_record, write_manifest
    from latentfx.walk_render import LatentSpace, frame_size

    spec.validate()
    started = time.perf_counter()
    model, info = load_model(spec.model, device=spec.device)
    key = load_keyframe(spec.image)
    width, height = frame_size(spec.size, model, [key])
    space = LatentSpace(model, height=height, width=width, fit=spec.fit, temperature=1.0,
                        model_id=info.model_id)
    z = space.anchor(key)
    for path, strength in spec.vectors:
        v = AttributeVector.load(path)
        if v.model_id != info.model_id:
            raise InputError(f"{path}: made with model {v.model_id[:16]}, not with this one "
                             f"({info.model_id[:16]}); vectors only apply to their own model")
        z = z + strength * _fitted(v.vector, z)
    picture = space.decode(z)[0]
    if spec.residual and key.is_image:
        original = fit_to(key.image, height, width, spec.fit)
        picture = (picture + original - space.decode(space.anchor(key))[0]).clamp(0, 1)
    save_image(picture, spec.output)
    write_manifest(spec.output, job="apply", spec=asdict(spec), model_id=info.model_id,
                   inputs=[input_record(spec.image)] + [input_record(p) for p, _ in spec.vectors],
                   timings={"seconds": round(time.perf_counter() - started, 3)})
    return ApplyResult(Path(spec.output), (width, height))


def _fitted(vector, z):
    """A spatial vector made at another size is resampled to this latent's size."""
    import torch.nn.functional as F

    v = vector.to(z.device, z.dtype)[None]
    if v.shape != z.shape and v.dim() == 4:
        v = F.interpolate(v, size=z.shape[-2:], mode="bilinear", align_corners=False)
    if v.shape != z.shape:
        raise InputError(f"the vector's shape {tuple(vector.shape)} does not fit this latent "
                         f"{tuple(z.shape[1:])}")
    return v
