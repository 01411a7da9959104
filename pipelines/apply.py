"""apply: move an image's latent along one or more attribute vectors, z + sum(s_i * v_i)
(on a vector model kept on its encoded data and its clusters, one vector after another:
attribute_vectors.moved),
and decode it; --residual keeps the photo's own detail, as in walks. With a sweep, the
strength runs from one value to another: a strip of pictures, or a video through the walk's
video writer."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from latentfx.errors import InputError
from latentfx.io.outputs import IMAGE_OUTPUTS, check_output_file
from pipelines.specs import PAIRS, ModelSpec, input_path, output_path

STRIP_CELL = 48  # the narrowest picture of a swept strip, in pixels


@dataclass
class ApplySpec(ModelSpec):
    image: str = input_path()
    output: str = output_path()
    # (file, strength)
    vectors: list[tuple[str, float]] = input_path(default_factory=list, form=PAIRS)
    model: str | None = None
    residual: bool = False
    size: tuple[int, int] | None = None
    fit: str = "crop"
    sweep: tuple[float, float] | None = None  # strength from .. to, times each vector's
    grid: int = 9                            # pictures in a swept strip
    frames: int = 48                         # frames of a swept video
    fps: float = 24.0
    device: str = "auto"
    # A vector model's moves follow its fitted prior's clusters (attribute_vectors.moved);
    # a manifest written before they did rerenders with the straight move.
    clusters: bool = True
    LEGACY_VALUES = {"clusters": False}

    def validate(self) -> None:
        from latentfx.video.writer import video_target

        if not self.vectors:
            raise InputError("give at least one attribute vector")
        if self.sweep is not None and Path(self.output).suffix.lower() not in IMAGE_OUTPUTS:
            video_target(self.output)  # a video: checked like a walk's
            if self.frames < 2 or self.fps <= 0:
                raise InputError("a swept video needs --frames >= 2 and a positive --fps")
            return
        if self.grid < 2:
            raise InputError(f"--grid must be at least 2, got {self.grid}")
        check_output_file(self.output, suffixes=IMAGE_OUTPUTS)


@dataclass
class ApplyResult:
    output: Path
    size: tuple[int, int]


def run(spec: ApplySpec, *, progress: Callable[[int, int, str], None] | None = None,
        cancel: Callable[[], bool] | None = None) -> ApplyResult:
    import torch

    from latentfx.images.grids import save_image
    from latentfx.images.resizing import fit_to
    from latentfx.io.manifests import input_record, write_manifest
    from latentfx.latents.attribute_vectors import AttributeVector, moved
    from latentfx.walk.keyframes import load_keyframe
    from latentfx.walk.rendering import LatentSpace, frame_size

    spec.validate()
    started = time.perf_counter()
    model, info = spec.load_model()
    key = load_keyframe(spec.image)
    width, height = frame_size(spec.size, model, [key])
    space = LatentSpace(model, height=height, width=width, fit=spec.fit, temperature=1.0,
                        model_id=info.model_id)
    z = space.anchor(key)
    steps = []  # each vector at its own strength
    for path, strength in spec.vectors:
        v = AttributeVector.load(path)
        if v.model_id != info.model_id:
            raise InputError(f"{path}: made with model {v.model_id[:16]}, not with this one "
                             f"({info.model_id[:16]}); vectors only apply to their own model")
        steps.append(strength * _fitted(v.vector, z))
    # Moves that follow the clusters are taken one vector after another: the sum of "triangle"
    # and "red" is claimed by whichever cluster lies nearer (a red square), while a move
    # along one and then the other reaches a red triangle. A manifest written before moves
    # followed the clusters moved along the sum.
    if not spec.clusters:
        steps = [sum(steps)]
    residual = 0.0
    if spec.residual and key.is_image:  # on the model's device, where pictures are blended
        decoded = space.decode(z)[0]
        residual = fit_to(key.image, height, width, spec.fit).to(decoded.device) - decoded

    prior = model.fitted_prior if model.is_generator else None

    def latents(amounts):  # (n,) strengths -> (n, ...): z moved along each step in turn
        out = moved(z, steps[0], amounts, prior=prior, clusters=spec.clusters)
        for step in steps[1:]:
            out = torch.cat([moved(row[None], step, amount[None], prior=prior,
                                   clusters=spec.clusters) for row, amount in zip(out, amounts)])
        return out

    def pictures(amounts):  # (n,) strengths -> (n, 3, H, W), on the model's device
        return (space.decode(latents(amounts)) + residual).clamp(0, 1)

    if spec.sweep is None:
        save_image(pictures(torch.ones(1))[0].cpu(), spec.output)
    elif Path(spec.output).suffix.lower() in IMAGE_OUTPUTS:
        _sweep_strip(spec, pictures)
    else:
        _sweep_video(spec, pictures, width, height)
    write_manifest(spec.output, job="apply", spec=asdict(spec), model_id=info.model_id,
                   inputs=[input_record(spec.image)] + [input_record(p) for p, _ in spec.vectors],
                   timings={"seconds": round(time.perf_counter() - started, 3)})
    return ApplyResult(Path(spec.output), (width, height))


def _sweep_strip(spec: ApplySpec, pictures) -> None:
    """The swept pictures in a row, each captioned with its strength."""
    import torch

    from latentfx.images.contact_sheets import Cell, contact_sheet

    amounts = torch.linspace(*spec.sweep, spec.grid)
    cells = [Cell(picture, f"{round(float(amount), 3):+g}")
             for amount, picture in zip(amounts, pictures(amounts).cpu())]
    # Pictures of STRIP_CELL pixels and more keep their own pixels; smaller ones are enlarged
    # until the captions fit.
    contact_sheet(cells, spec.output, columns=spec.grid, min_cell_width=STRIP_CELL)


def _sweep_video(spec: ApplySpec, pictures, width: int, height: int) -> None:
    import torch

    from latentfx.video.writer import VideoWriter, video_target
    from latentfx.walk.rendering import to_uint8_frames

    amounts = torch.linspace(*spec.sweep, spec.frames)
    target = video_target(spec.output)
    width, height = (width - width % 2, height - height % 2) if target.needs_even_size \
        else (width, height)
    with VideoWriter(target, width=width, height=height, fps=spec.fps) as video:
        for start in range(0, len(amounts), 8):
            frames = pictures(amounts[start: start + 8])[..., :height, :width]
            video.write(to_uint8_frames(frames))


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
