"""walk: keyframes (images, seed:N) -> a latent-walk video (DESIGN §3).

Steps: check the spec; load the model and keyframes; settle the output size; build the
renderer (anchors, path, residuals, pacing); then stream frames in batches into ffmpeg while
the next batch decodes; finally write the contact sheet and the manifest.

On the farm a walk renders in frame ranges: frame_count, prepare, render_frames and assemble
are the chunk protocol of pipelines.chunks, and take a checked spec (WalkSpec.checked()).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from latentfx.errors import InputError, Interrupted
from latentfx.io.outputs import IMAGE_OUTPUTS, check_output_file
from latentfx.options import FRAME_FITS
from pipelines.specs import KEYFRAMES, Spec, input_path, output_path

INTERPOLATIONS = ("lerp", "slerp", "spline")
PACINGS = ("time", "uniform")
SPACES = ("latent", "pixel")
DEFAULT_FRAMES = 48           # per segment: 2 s at 24 fps
# Points decoded per segment by the pacing pre-pass: on the bundled model, 8 / 16 / 32 give
# a frame-to-frame spread of 0.026 / 0.010 / 0.003 where plain timing gives 0.16 (slerp).
PACING_SAMPLES = 16


@dataclass
class WalkSpec(Spec):
    keyframes: list[str] = input_path(form=KEYFRAMES)
    output: str = output_path()
    model: str | None = None
    size: tuple[int, int] | None = None  # (width, height)
    fit: str = "crop"
    interp: str | None = None  # default: slerp; spline for --random
    ease: str | None = None    # default: smooth; linear for spline or uniform pacing
    frames: int | None = None
    duration: float | None = None
    durations: tuple[float, ...] | None = None
    fps: float = 24.0
    hold: int = 0
    loop: bool = False
    random: bool = False
    keys: int = 4              # keyframes drawn for --random
    seed: int = 0
    temperature: float = 1.0
    pacing: str = "time"
    residual: bool = False
    space: str = "latent"
    compare: bool = False
    crf: int | None = None
    codec: str | None = None
    frames_dir: str | None = output_path(None)
    sheet: str | None = output_path(None)
    sheet_frames: int = 8
    batch: int = 8
    device: str = "auto"

    def resolved(self) -> "WalkSpec":
        """The spec with every default that depends on other options filled in, so that a
        manifest records exactly what was rendered."""
        keyframes = self.keyframes
        if self.random:
            keyframes = [f"seed:{self.seed + i}" for i in range(self.keys)]
        interp = self.interp or ("spline" if self.random else "slerp")
        # Uniform pacing asks for a steady visual rate, which an ease-in-out would undo.
        ease = self.ease or ("linear" if interp == "spline" or self.pacing == "uniform"
                             else "smooth")
        frames = self.frames
        if frames is None and self.duration is None and self.durations is None:
            frames = DEFAULT_FRAMES
        return dataclasses.replace(self, keyframes=list(keyframes), interp=interp, ease=ease,
                                   frames=frames, random=False,
                                   durations=tuple(self.durations) if self.durations else None,
                                   size=tuple(self.size) if self.size else None)

    def validate(self) -> None:
        from latentfx.video.writer import CONTAINERS, video_target
        from latentfx.walk.easing import EASINGS

        if self.random and self.keyframes:
            raise InputError("--random draws its own keyframes; drop the keyframe arguments")
        if self.random and self.keys < 2:
            raise InputError(f"--keys must be at least 2, got {self.keys}")
        if not self.random and len(self.keyframes) < 2:
            raise InputError(f"a walk needs at least two keyframes, got {len(self.keyframes)}: "
                             f"give two or more images or seed:N entries (or --random)")
        _choice("--fit", self.fit, FRAME_FITS)
        _choice("--interp", self.interp, INTERPOLATIONS, optional=True)
        _choice("--ease", self.ease, tuple(EASINGS), optional=True)
        _choice("--pacing", self.pacing, PACINGS)
        _choice("--space", self.space, SPACES)
        if self.fps <= 0:
            raise InputError(f"--fps must be positive, got {self.fps:g}")
        if self.hold < 0:
            raise InputError(f"--hold must be 0 or more, got {self.hold}")
        if self.temperature <= 0:
            raise InputError(f"--temperature must be positive, got {self.temperature:g}")
        if self.batch < 1:
            raise InputError(f"--batch must be at least 1, got {self.batch}")
        if self.size is not None and min(self.size) < 8:
            raise InputError(f"--size must be at least 8x8, got {self.size[0]}x{self.size[1]}")
        if self.compare and self.space == "pixel":
            raise InputError("--compare already renders the pixel crossfade beside the latent "
                             "walk; drop --space pixel")
        if self.crf is not None and not 0 <= self.crf <= 63:
            raise InputError(f"--crf must be between 0 and 63, got {self.crf}")
        if self.sheet_frames < 1:
            raise InputError(f"--sheet-frames must be at least 1, got {self.sheet_frames}")
        target = video_target(self.output)
        if self.crf is not None and not target.is_sequence and \
                CONTAINERS[target.path.suffix.lower()].crf is None and self.codec is None:
            raise InputError(f"--crf applies to .mp4 and .webm (or a --codec that takes it), "
                             f"not {target.label}")
        if self.frames_dir is not None:
            if not video_target(self.frames_dir).is_sequence:
                raise InputError(f"--frames-dir {self.frames_dir}: give a folder or a "
                                 f"%05d.png pattern")
        if self.sheet is not None:
            check_output_file(self.sheet, suffixes=IMAGE_OUTPUTS)


def _choice(option: str, value, choices: tuple, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if value not in choices:
        raise InputError(f"{option} must be one of {', '.join(choices)}, got {value!r}")


@dataclass
class WalkResult:
    output: Path
    model_id: str
    frames: int
    size: tuple[int, int]  # (width, height) of the video
    seconds: float         # the whole job
    render_seconds: float  # from the first frame to the finished file: the streaming part
    step_spread: float     # coefficient of variation of frame-to-frame change
    keyframe_psnr: list[float | None]  # per keyframe: frame vs. fitted original (images only)
    notes: list[str] = field(default_factory=list)
    sheet: Path | None = None


@dataclass
class Walk:
    """Everything needed to render any frame of a walk (pipelines.chunks.Prepared)."""

    spec: WalkSpec            # checked (validated and resolved)
    renderers: list           # one, or [pixel, latent] for --compare
    timeline: object          # latentfx.walk.timeline.Timeline
    size: tuple[int, int]     # (width, height) of one renderer's frames
    keys: list
    model_id: str
    notes: list[str]
    device: object            # torch.device the model runs on

    @property
    def frame_count(self) -> int:
        return len(self.timeline)

    @property
    def video_size(self) -> tuple[int, int]:
        width, height = self.size
        return (width * len(self.renderers), height)

    def facts(self) -> dict:
        """What assembly needs to write the manifest a local run writes: keyframe PSNR
        compares each keyframe's frame with its original at one renderer's frame size."""
        return {"model_id": self.model_id, "frame_size": list(self.size),
                "keyframe_frames": list(self.timeline.keyframe_frames),
                "notes": list(self.notes)}

    def render(self, start: int, stop: int):
        """Frames [start, stop) as float (B, 3, H, W)."""
        import torch

        seg, frac = self.timeline.segment[start:stop], self.timeline.fraction[start:stop]
        return torch.cat([r.render(seg, frac) for r in self.renderers], dim=-1)


def prepare(spec: WalkSpec, *, progress=None) -> Walk:
    """Steps 2-3 (for a checked spec): everything up to the first frame."""
    from latentfx.models.loading import load_model
    from latentfx.video.writer import video_target
    from latentfx.walk.keyframes import load_keyframes
    from latentfx.walk.rendering import LatentSpace, PixelSpace, WalkRenderer, frame_size
    from latentfx.walk.timeline import allocate, build_timeline, segment_frame_counts

    target = video_target(spec.output)

    # 2. Load the model and keyframes; settle the output size.
    keys = load_keyframes(spec.keyframes)
    model, info = load_model(spec.model, device=spec.device)
    notes: list[str] = []
    width, height = frame_size(spec.size, model, keys, even=target.needs_even_size, notes=notes)

    # 3. Build the renderer(s) and the timeline.
    latent = LatentSpace(model, height=height, width=width, fit=spec.fit,
                         temperature=spec.temperature, model_id=info.model_id)
    spaces = {"latent": [latent], "pixel": [PixelSpace(latent)]}[spec.space]
    if spec.compare:
        spaces = [PixelSpace(latent), latent]
    # A crossfade is a straight line between pictures, whatever path the latent side takes;
    # it shares the timing (easing, holds, loop) so the two stay in step under --compare.
    renderers = [WalkRenderer(space, keys, loop=spec.loop, ease=spec.ease,
                              interp="lerp" if isinstance(space, PixelSpace) else spec.interp,
                              residual=spec.residual)
                 for space in spaces]
    segments = renderers[0].path.segments
    counts = segment_frame_counts(segments=segments, loop=spec.loop, keyframes=len(keys),
                                  fps=spec.fps, frames=spec.frames, duration=spec.duration,
                                  durations=spec.durations, hold=spec.hold)
    if spec.pacing == "uniform":
        for r in renderers:
            r.pace_uniformly(samples=PACING_SAMPLES, batch=spec.batch, progress=progress)
        if spec.durations is None:
            # Segments that change the picture more get more of the frames, so the rate is
            # even across keyframes too (--durations keeps the user's timing per segment).
            counts = allocate(sum(counts), renderers[-1].arc.lengths.tolist())
    timeline = build_timeline(counts, loop=spec.loop, hold=spec.hold)
    return Walk(spec, renderers, timeline, (width, height), keys, info.model_id, notes,
                model.device)


def frame_batches(walk: Walk, *, start: int = 0, stop: int | None = None,
                  cancel: Callable[[], bool] | None = None) -> Iterator[tuple[int, object]]:
    """(index of the first frame, float frames) for [start, stop), batch by batch."""
    stop = walk.frame_count if stop is None else stop
    for first in range(start, stop, walk.spec.batch):
        if cancel and cancel():
            raise Interrupted(f"cancelled at frame {first} of {walk.frame_count}; "
                              f"no output was written")
        yield first, walk.render(first, min(stop, first + walk.spec.batch))


def run(spec: WalkSpec, *, progress: Callable[[int, int, str], None] | None = None,
        cancel: Callable[[], bool] | None = None) -> WalkResult:
    started = time.perf_counter()
    # 1. Check the spec and resolve its defaults.
    walk = prepare(spec.checked(), progress=progress)
    keyframe_at = {f: k for k, f in enumerate(walk.timeline.keyframe_frames)}
    return _encode(walk.spec, frame_batches(walk, cancel=cancel), total=walk.frame_count,
                   video_size=walk.video_size, keys=walk.keys, keyframe_at=keyframe_at,
                   frame_size=walk.size, model_id=walk.model_id, notes=walk.notes,
                   encoder_threads=1 if walk.device.type == "cpu" else 0,  # see VideoWriter
                   started=started, progress=progress)


def frame_count(spec: WalkSpec) -> int:
    """How many frames the walk has, without loading anything (the farm plans chunks so)."""
    from latentfx.walk.timeline import segment_frame_counts

    k = len(spec.keyframes)
    counts = segment_frame_counts(segments=k if spec.loop else k - 1, loop=spec.loop,
                                  keyframes=k, fps=spec.fps, frames=spec.frames,
                                  duration=spec.duration, durations=spec.durations,
                                  hold=spec.hold)
    # Uniform pacing may move frames between segments, never changes their sum.
    return sum(counts) + (0 if spec.loop else 1) + spec.hold * k


def render_frames(walk: Walk, start: int, stop: int, *, write: Callable[[int, object], None],
                  cancel: Callable[[], bool] | None = None) -> None:
    """Render frames [start, stop) and hand each to write(index, uint8 (H, W, 3)): a farm
    chunk."""
    from latentfx.walk.rendering import to_uint8_frames

    for first, frames in frame_batches(walk, start=start, stop=stop, cancel=cancel):
        for i, pixels in enumerate(to_uint8_frames(frames)):
            write(first + i, pixels)


def assemble(spec: WalkSpec, frame_files: list[Path], *, facts: dict,
             progress: Callable[[int, int, str], None] | None = None,
             cancel: Callable[[], bool] | None = None) -> WalkResult:
    """Encode frames rendered by chunks (PNG files, in order) exactly as run() would have,
    keyframe PSNR included; `facts` are the prepared walk's."""
    import numpy as np
    from PIL import Image

    from latentfx.walk.keyframes import load_keyframes

    started = time.perf_counter()
    with Image.open(frame_files[0]) as first:
        video_size = first.size

    def batches():
        for start in range(0, len(frame_files), spec.batch):
            if cancel and cancel():
                raise Interrupted(f"cancelled while assembling, at frame {start}; no output "
                                  f"was written")
            yield start, np.stack([np.asarray(Image.open(f).convert("RGB"))
                                   for f in frame_files[start: start + spec.batch]])

    keyframe_at = {f: k for k, f in enumerate(facts["keyframe_frames"])}
    return _encode(spec, batches(), total=len(frame_files), video_size=video_size,
                   keys=load_keyframes(spec.keyframes), keyframe_at=keyframe_at,
                   frame_size=tuple(facts["frame_size"]), model_id=facts["model_id"],
                   notes=list(facts["notes"]), encoder_threads=1, started=started,
                   progress=progress)


def _encode(spec: WalkSpec, batches, *, total: int, video_size: tuple[int, int], keys: list,
            keyframe_at: dict[int, int], frame_size: tuple[int, int], model_id: str,
            notes: list[str], encoder_threads: int, started: float,
            progress: Callable[[int, int, str], None] | None) -> WalkResult:
    """Steps 4-5, shared by local renders and farm assembly: stream batches (float frames or
    uint8 pixels) into the outputs, then the contact sheet and the manifest."""
    import contextlib

    import numpy as np
    import torch

    from latentfx.images.grids import make_grid, save_image
    from latentfx.io.manifests import input_record, write_manifest
    from latentfx.runtime.consumer_thread import ConsumerThread
    from latentfx.video.writer import VideoWriter, video_target
    from latentfx.walk.pacing import StepMeter
    from latentfx.walk.rendering import to_uint8_frames

    render_started = time.perf_counter()
    width, height = video_size
    sheet_at = _sheet_indices(total, spec.sheet_frames) if spec.sheet else {}
    sheet_frames, key_psnr = {}, [None] * len(keys)
    meter = StepMeter()

    def consume(first: int, frames) -> None:
        """On a background thread: convert, write, measure (the next batch decodes meanwhile)."""
        pixels = frames if isinstance(frames, np.ndarray) else to_uint8_frames(frames)
        for sink in sinks:
            sink.write(pixels)
        meter.update(torch.from_numpy(pixels[:, ::2, ::2]))  # every other pixel is plenty
        for i in range(len(pixels)):
            if first + i in sheet_at or first + i in keyframe_at:
                shown = torch.from_numpy(pixels[i]).permute(2, 0, 1).float() / 255  # as written
                if first + i in sheet_at:
                    sheet_frames[first + i] = shown
                if first + i in keyframe_at:
                    k = keyframe_at[first + i]
                    key_psnr[k] = _keyframe_psnr(keys[k], shown, frame_size, spec.fit)
        if progress:
            progress(first + len(pixels), total, "frames")

    # 4. Stream batches into ffmpeg (and the optional PNG folder) while the next one decodes.
    with contextlib.ExitStack() as stack:
        sinks = [stack.enter_context(VideoWriter(video_target(path), width=width, height=height,
                                                 fps=spec.fps, crf=spec.crf, codec=spec.codec,
                                                 encoder_threads=encoder_threads))
                 for path in [spec.output, spec.frames_dir] if path]
        consumer = stack.enter_context(ConsumerThread(consume, name="walk-frames"))
        for first, frames in batches:
            consumer.put(first, frames)

    # 5. Contact sheet and manifest.
    seconds, render_seconds = (time.perf_counter() - t for t in (started, render_started))
    if spec.sheet:
        ordered = torch.stack([sheet_frames[i] for i in sorted(sheet_frames)])
        save_image(make_grid(ordered, nrow=min(4, len(ordered))), spec.sheet)
    result = WalkResult(Path(spec.output), model_id, total, (width, height), seconds,
                        render_seconds, meter.spread, key_psnr, notes,
                        Path(spec.sheet) if spec.sheet else None)
    write_manifest(spec.output.rstrip("/"), job="walk", spec=asdict(spec), model_id=model_id,
                   inputs=[input_record(p) for p in dict.fromkeys(
                       k.path or k.store for k in keys if k.seed is None)],
                   seeds={"keyframes": {k.text: k.seed for k in keys if k.seed is not None}},
                   timings={"seconds": round(seconds, 3),
                            "render_seconds": round(render_seconds, 3),
                            "frames_per_second": round(total / render_seconds, 2)},
                   results={"frames": total, "size": [width, height],
                            "keyframe_frames": sorted(keyframe_at),
                            "step_spread": round(meter.spread, 4),
                            "keyframe_psnr": [None if p is None else round(p, 2)
                                              for p in key_psnr],
                            "notes": notes})
    return result


def _sheet_indices(total: int, count: int) -> dict[int, int]:
    count = min(count, total)
    if count == 1:
        return {0: 0}
    return {round(i * (total - 1) / (count - 1)): i for i in range(count)}


def _keyframe_psnr(key, frame, frame_size: tuple[int, int], fit: str) -> float | None:
    """How close a rendered keyframe is to the fitted original (latent side for --compare)."""
    from latentfx.images.metrics import psnr
    from latentfx.images.resizing import fit_to

    if not key.is_image:
        return None
    width, height = frame_size
    original = fit_to(key.image, height, width, fit)
    original = original.mul(255).round().div(255)  # the frame is 8-bit too
    return float(psnr(frame[..., -width:], original))
