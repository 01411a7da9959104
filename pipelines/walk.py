"""walk: keyframes (images, seed:N) -> a latent-walk video (DESIGN §3).

Steps: check the spec; load the model and keyframes; settle the output size and build the
renderer (anchors, path, residuals, pacing: latentfx/walk/frames.py); then stream frames in
batches into ffmpeg while the next batch decodes, and write the contact sheet
(latentfx/walk/video.py); finally the manifest.

On the farm a walk renders in frame ranges: frame_count, prepare, render_frames and assemble
are the chunk protocol of pipelines.chunks, and take a checked spec (WalkSpec.checked()).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

from latentfx.errors import InputError
from latentfx.options import DATA_PULLS, FRAME_FITS, MORPHS
from latentfx.priors.choice import check_prior_option
from pipelines.specs import KEYFRAMES, ModelSpec, input_path, output_path

if TYPE_CHECKING:  # annotations only: these bring torch, so they are imported where used
    from latentfx.walk.frames import WalkFrames
    from latentfx.walk.outputs import VideoOutputs
    from latentfx.walk.video import WalkVideo

INTERPOLATIONS = ("lerp", "slerp", "spline")
PACINGS = ("time", "uniform")
SPACES = ("latent", "pixel")
DEFAULT_FRAMES = 48           # per segment: 2 s at 24 fps


@dataclass
class WalkSpec(ModelSpec):
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
    prior: str | None = None   # what seed:N keyframes draw from; default: the model's
    pacing: str = "time"
    residual: bool = False
    space: str = "latent"
    compare: bool = False
    morph: str | None = None   # default: flow for models whose latent is a picture, else none
    along: str | None = None   # line or data; default: data for vector models with a prior
    pulls: int = DATA_PULLS    # along the data: pull-and-settle rounds per frame
    # Written before walks could morph or go along the data (or pull twice): rendered so.
    LEGACY_VALUES = {"morph": "none", "along": "line", "pulls": 1}
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
        from latentfx.priors.choice import resolve_along, resolve_prior
        from latentfx.walk.keyframes import draws_from_prior
        from latentfx.walk.morph import resolve_morph

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
        prior = resolve_prior(self.model, self.prior, draws=draws_from_prior(keyframes))
        morph = resolve_morph(self.model, self.morph, space=self.space)
        along = resolve_along(self.model, self.along, space=self.space)
        return dataclasses.replace(self, keyframes=list(keyframes), interp=interp, ease=ease,
                                   frames=frames, random=False, prior=prior, morph=morph,
                                   along=along,
                                   durations=tuple(self.durations) if self.durations else None,
                                   size=tuple(self.size) if self.size else None)

    def outputs(self) -> VideoOutputs:
        """Where and how the frames are written."""
        from latentfx.walk.outputs import VideoOutputs

        return VideoOutputs(output=self.output, fps=self.fps, crf=self.crf, codec=self.codec,
                            frames_dir=self.frames_dir, sheet=self.sheet,
                            sheet_frames=self.sheet_frames)

    def validate(self) -> None:
        from latentfx.walk.easing import EASINGS
        from latentfx.options import check_render_options

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
        _choice("--morph", self.morph, MORPHS, optional=True)
        check_prior_option(self.prior)
        if self.hold < 0:
            raise InputError(f"--hold must be 0 or more, got {self.hold}")
        if self.temperature <= 0:
            raise InputError(f"--temperature must be positive, got {self.temperature:g}")
        # not an option: only a hand-edited manifest or farm spec can get it wrong
        if isinstance(self.pulls, bool) or not isinstance(self.pulls, int) or self.pulls < 0:
            raise InputError(f"pulls must be a whole number, 0 or more, got {self.pulls!r}")
        check_render_options(size=self.size, batch=self.batch)
        if self.compare and self.space == "pixel":
            raise InputError("--compare already renders the pixel crossfade beside the latent "
                             "walk; drop --space pixel")
        if self.space == "pixel" and self.morph == "flow":
            raise InputError("--morph flow moves latents, and --space pixel is the plain "
                             "crossfade; drop one (--compare shows them side by side)")
        self.outputs().check()


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
    """A walk ready to render: any range of its frames, for a local run or a farm chunk."""

    spec: WalkSpec            # checked (validated and resolved)
    frames: WalkFrames        # renderers and timeline
    model_id: str

    @property
    def frame_count(self) -> int:
        return len(self.frames)

    def facts(self) -> dict:
        """What assembly needs to write the manifest a local run writes: keyframe PSNR
        compares each keyframe's frame with its original at one renderer's frame size."""
        return {"model_id": self.model_id, "frame_size": list(self.frames.size),
                "keyframe_frames": list(self.frames.timeline.keyframe_frames),
                "notes": list(self.frames.notes)}


def prepare(spec: WalkSpec, *, progress=None) -> Walk:
    """Steps 2-3 (for a checked spec): everything up to the first frame."""
    from latentfx.models.foreign.cost import say_cost
    from latentfx.walk.frames import build_walk
    from latentfx.walk.keyframes import load_keyframes

    # 2. Load the model and keyframes.
    keys = load_keyframes(spec.keyframes)
    model, info = spec.load_model()

    # 3. Settle the output size; build the renderer(s) and the timeline.
    frames = build_walk(model, keys, model_id=info.model_id, size=spec.size,
                        even=spec.outputs().needs_even_size, fit=spec.fit, interp=spec.interp,
                        ease=spec.ease, fps=spec.fps, batch=spec.batch, frames=spec.frames,
                        duration=spec.duration, durations=spec.durations, hold=spec.hold,
                        loop=spec.loop, residual=spec.residual, pacing=spec.pacing,
                        space=spec.space, compare=spec.compare, morph=spec.morph,
                        temperature=spec.temperature, along=spec.along, pulls=spec.pulls,
                        prior=spec.prior, progress=progress)
    say_cost(model, frames.size, frame_count(spec), progress)
    return Walk(spec, frames, info.model_id)


def frame_batches(walk: Walk, *, start: int = 0, stop: int | None = None,
                  cancel: Callable[[], bool] | None = None) -> Iterator[tuple[int, object]]:
    """(index of the first frame, float frames) for [start, stop), --batch frames at a time
    (halved on out-of-memory)."""
    return walk.frames.batches(batch=walk.spec.batch, start=start, stop=stop, cancel=cancel)


def run(spec: WalkSpec, *, progress: Callable[[int, int, str], None] | None = None,
        cancel: Callable[[], bool] | None = None) -> WalkResult:
    from latentfx.walk.video import render_walk_video

    started = time.perf_counter()
    # 1. Check the spec and resolve its defaults.
    walk = prepare(spec.checked(), progress=progress)
    # 4. Stream batches into ffmpeg (and the optional PNG folder) while the next one decodes;
    # the contact sheet.
    video = render_walk_video(walk.frames, walk.spec.outputs(), batch=walk.spec.batch,
                              cancel=cancel, progress=progress)
    # 5. The manifest.
    return _finish(walk.spec, video, keys=walk.frames.keys, model_id=walk.model_id,
                   notes=walk.frames.notes, started=started)


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

    from latentfx.errors import Interrupted
    from latentfx.walk.keyframes import load_keyframes
    from latentfx.walk.video import write_walk_video

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

    keys = load_keyframes(spec.keyframes)
    video = write_walk_video(batches(), spec.outputs(), total=len(frame_files),
                             video_size=video_size, keys=keys,
                             keyframe_at={f: k for k, f in enumerate(facts["keyframe_frames"])},
                             frame_size=tuple(facts["frame_size"]), fit=spec.fit,
                             encoder_threads=1, progress=progress)
    return _finish(spec, video, keys=keys, model_id=facts["model_id"],
                   notes=list(facts["notes"]), started=started)


def _finish(spec: WalkSpec, video: WalkVideo, *, keys: list, model_id: str, notes: list[str],
            started: float) -> WalkResult:
    """The manifest of a written walk, and the result."""
    from latentfx.io.manifests import input_record, write_manifest

    seconds = time.perf_counter() - started
    write_manifest(spec.output.rstrip("/"), job="walk", spec=asdict(spec), model_id=model_id,
                   inputs=[input_record(p) for p in dict.fromkeys(
                       k.path or k.store for k in keys if k.seed is None)],
                   seeds={"keyframes": {k.text: k.seed for k in keys if k.seed is not None}},
                   timings={"seconds": round(seconds, 3), **video.timings()},
                   results={**video.results(), "notes": notes})
    return WalkResult(Path(spec.output), model_id, video.frames, video.size, seconds,
                      video.render_seconds, video.step_spread, video.keyframe_psnr, notes,
                      video.sheet)
