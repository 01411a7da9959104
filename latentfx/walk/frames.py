"""A walk ready to render: its renderer(s) and timeline, built from a loaded model and loaded
keyframes, and any range of its frames on demand, batch by batch.

A frame depends only on its place in the timeline, never on the batch it is rendered in:
a farm renders chunks of the same walk anywhere, and a batch that runs out of memory is
rendered again in halves with the same result (latentfx/runtime/oom.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterator

import torch

from latentfx.errors import Interrupted
from latentfx.models import VAE
from latentfx.options import DATA_PULLS
from latentfx.runtime.oom import halving_batches
from latentfx.walk.keyframes import Keyframe
from latentfx.walk.morph import Morph
from latentfx.walk.rendering import LatentSpace, PixelSpace, WalkRenderer, frame_size
from latentfx.walk.timeline import Timeline, allocate, build_timeline, segment_frame_counts

# Points decoded per segment by the pacing pre-pass: on the bundled model, 8 / 16 / 32 give
# a frame-to-frame spread of 0.026 / 0.010 / 0.003 where plain timing gives 0.16 (slerp).
PACING_SAMPLES = 16


@dataclass
class WalkFrames:
    """Everything needed to render any frame of a walk."""

    renderers: list[WalkRenderer]  # one, or [pixel, latent] side by side for --compare
    timeline: Timeline
    size: tuple[int, int]          # (width, height) of one renderer's frames
    keys: list[Keyframe]
    fit: str                       # how the keyframe images were fitted to `size`
    device: torch.device           # where the model runs
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.timeline)

    @property
    def video_size(self) -> tuple[int, int]:
        width, height = self.size
        return (width * len(self.renderers), height)

    @property
    def keyframe_at(self) -> dict[int, int]:
        """{output frame index: keyframe index} for the first frame on each keyframe."""
        return {f: k for k, f in enumerate(self.timeline.keyframe_frames)}

    def render(self, start: int, stop: int) -> torch.Tensor:
        """Frames [start, stop) as float (B, 3, H, W), on the model's device."""
        seg, frac = self.timeline.segment[start:stop], self.timeline.fraction[start:stop]
        panels = [r.render(seg, frac) for r in self.renderers]  # --compare: crossfade on CPU
        return torch.cat([p.to(panels[-1].device) for p in panels], dim=-1)

    def batches(self, *, batch: int, start: int = 0, stop: int | None = None,
                cancel: Callable[[], bool] | None = None) -> Iterator[tuple[int, torch.Tensor]]:
        """(index of the first frame, float frames) for [start, stop), `batch` frames at a
        time; the batch halves by itself on out-of-memory. cancel() is asked before each."""
        stop = len(self) if stop is None else stop

        def render(first: int, last: int) -> torch.Tensor:
            if cancel and cancel():
                raise Interrupted(f"cancelled at frame {first} of {len(self)}; "
                                  f"no output was written")
            return self.render(first, last)

        for first, _, frames in halving_batches(render, start, stop, batch=batch):
            yield first, frames


def build_walk(model: VAE, keys: list[Keyframe], *, model_id: str,
               size: tuple[int, int] | None, even: bool, fit: str, interp: str, ease: str,
               fps: float, batch: int, frames: int | None = None,
               duration: float | None = None, durations: tuple[float, ...] | None = None,
               hold: int = 0, loop: bool = False, residual: bool = False,
               pacing: str = "time", space: str = "latent", compare: bool = False,
               morph: str = "none", temperature: float = 1.0, prior: str | None = None,
               along: str = "line", pulls: int = DATA_PULLS,
               progress: Callable[[int, int, str], None] | None = None) -> WalkFrames:
    """The walk through `keys` with this model: settle the frame size (`size` (width,
    height), or one chosen from the keyframes; `even` for containers that need even sizes),
    build the renderer(s) in `space` ("latent" or "pixel"; both side by side with `compare`;
    with `morph` "flow" the latent walk morphs, a third panel under `compare`), then the
    timeline from the timing options (segment_frame_counts). Uniform `pacing`
    renders a pre-pass of PACING_SAMPLES points per segment, `batch` at a time. `seed:N`
    keyframes are drawn from `prior` (None: the model's default) at `temperature`. `along`
    "data" settles the latent walk's frames onto the model's pictures, pulling them towards
    their clusters `pulls` times (latentfx/walk/data_path.py)."""
    notes: list[str] = []
    width, height = frame_size(size, model, keys, even=even, notes=notes)
    renderers = _renderers(model, keys, model_id=model_id, height=height, width=width, fit=fit,
                           temperature=temperature, prior=prior, space=space, compare=compare,
                           interp=interp, ease=ease, loop=loop, residual=residual,
                           morph=morph == "flow", along=along, pulls=pulls)
    if renderers[-1].morph is not None:
        notes.extend(_still_segments(renderers[-1].morph, keys))
    counts = segment_frame_counts(segments=renderers[0].path.segments, loop=loop,
                                  keyframes=len(keys), fps=fps, frames=frames,
                                  duration=duration, durations=durations, hold=hold)
    if pacing == "uniform":
        for r in renderers:
            r.pace_uniformly(samples=PACING_SAMPLES, batch=batch, progress=progress)
        if durations is None:
            # Segments that change the picture more get more of the frames, so the rate is
            # even across keyframes too (--durations keeps the user's timing per segment).
            counts = allocate(sum(counts), renderers[-1].arc.lengths.tolist())
    timeline = build_timeline(counts, loop=loop, hold=hold)
    return WalkFrames(renderers, timeline, (width, height), keys, fit, model.device, notes)


def _renderers(model: VAE, keys: list[Keyframe], *, model_id: str, height: int, width: int,
               fit: str, temperature: float, prior: str | None, space: str, compare: bool,
               interp: str, ease: str, loop: bool, residual: bool,
               morph: bool, along: str = "line", pulls: int = DATA_PULLS
               ) -> list[WalkRenderer]:
    latent = LatentSpace(model, height=height, width=width, fit=fit, temperature=temperature,
                         model_id=model_id, prior=prior)
    spaces = {"latent": [(latent, morph)], "pixel": [(PixelSpace(latent), False)]}[space]
    if compare:  # crossfade | plain latent walk | morph
        spaces = [(PixelSpace(latent), False), (latent, False)] + ([(latent, True)] * morph)
    # A crossfade is a straight line between pictures, whatever path the latent side takes;
    # it shares the timing (easing, holds, loop) so the two stay in step under --compare.
    return [WalkRenderer(s, keys, loop=loop, ease=ease,
                         interp="lerp" if isinstance(s, PixelSpace) else interp,
                         residual=residual, morph=moves,
                         along="line" if isinstance(s, PixelSpace) else along, pulls=pulls)
            for s, moves in spaces]


def _still_segments(morph: Morph, keys: list[Keyframe]) -> list[str]:
    """A note for each segment whose keyframes do not correspond, so it dissolves."""
    # Keyframes by number: a farm job reads copies of the files under other names, and its
    # manifest must say what a local run's says.
    notes = []
    for s, (agreement, moves) in enumerate(zip(morph.agreement, morph.moves.tolist())):
        if not moves:
            notes.append(f"morph: keyframes {s + 1} and {(s + 1) % len(keys) + 1} do not "
                         f"correspond (they agree over {agreement:.0%} of the picture), so "
                         f"that segment dissolves")
    return notes
