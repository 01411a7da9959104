"""Writing a walk's frames as a video: stream them into ffmpeg (and an optional PNG folder)
while the next batch decodes, measure the frame-to-frame change and how close each rendered
keyframe is to its original, and keep a contact sheet.

The same streaming serves a walk rendered here (float frames from WalkFrames.batches) and a
farm's assembly of chunk frames (uint8 pixels read back from PNG files).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch

from latentfx.walk.frames import WalkFrames
from latentfx.walk.keyframes import Keyframe
from latentfx.walk.outputs import VideoOutputs


@dataclass
class WalkVideo:
    """What was written, and what was measured on the way."""

    frames: int
    size: tuple[int, int]            # (width, height) of the video
    render_seconds: float            # from the first frame to the finished file
    step_spread: float               # coefficient of variation of frame-to-frame change
    keyframe_psnr: list[float | None]  # per keyframe: frame vs. fitted original (images only)
    keyframe_frames: list[int]       # where each keyframe's psnr was measured
    sheet: Path | None = None

    def timings(self) -> dict:
        """For a manifest's timings."""
        return {"render_seconds": round(self.render_seconds, 3),
                "frames_per_second": round(self.frames / self.render_seconds, 2)}

    def results(self) -> dict:
        """For a manifest's results."""
        return {"frames": self.frames, "size": list(self.size),
                "keyframe_frames": self.keyframe_frames,
                "step_spread": round(self.step_spread, 4),
                "keyframe_psnr": [None if p is None else round(p, 2)
                                  for p in self.keyframe_psnr]}


def encoder_threads(device: torch.device) -> int:
    """One encoder thread when the model has the CPU's cores, else ffmpeg's choice (see
    VideoWriter)."""
    return 1 if device.type == "cpu" else 0


def render_walk_video(walk: WalkFrames, outputs: VideoOutputs, *, batch: int,
                      cancel: Callable[[], bool] | None = None,
                      progress: Callable[[int, int, str], None] | None = None) -> WalkVideo:
    """Render every frame of `walk`, `batch` at a time, into `outputs`."""
    return write_walk_video(walk.batches(batch=batch, cancel=cancel), outputs, total=len(walk),
                            video_size=walk.video_size, keys=walk.keys,
                            keyframe_at=walk.keyframe_at, frame_size=walk.size, fit=walk.fit,
                            encoder_threads=encoder_threads(walk.device), progress=progress)


def write_walk_video(batches: Iterable[tuple[int, object]], outputs: VideoOutputs, *,
                     total: int, video_size: tuple[int, int], keys: list[Keyframe],
                     keyframe_at: dict[int, int], frame_size: tuple[int, int], fit: str,
                     encoder_threads: int,
                     progress: Callable[[int, int, str], None] | None = None) -> WalkVideo:
    """Stream (first index, float frames (B, 3, H, W) or uint8 pixels (B, H, W, 3)) batches
    into the outputs. The PSNR of keyframe k is measured at output frame i where
    keyframe_at[i] == k, against keys[k] fitted (`fit`) to frame_size."""
    from latentfx.images.grids import make_grid, save_image
    from latentfx.runtime.consumer_thread import ConsumerThread
    from latentfx.video.writer import VideoWriter, video_target
    from latentfx.walk.pacing import StepMeter
    from latentfx.walk.rendering import to_uint8_frames

    started = time.perf_counter()
    width, height = video_size
    sheet_at = _sheet_indices(total, outputs.sheet_frames) if outputs.sheet else {}
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
                    key_psnr[k] = _keyframe_psnr(keys[k], shown, frame_size, fit)
        if progress:
            progress(first + len(pixels), total, "frames")

    with contextlib.ExitStack() as stack:
        sinks = [stack.enter_context(VideoWriter(video_target(path), width=width, height=height,
                                                 fps=outputs.fps, crf=outputs.crf,
                                                 codec=outputs.codec,
                                                 encoder_threads=encoder_threads))
                 for path in [outputs.output, outputs.frames_dir] if path]
        consumer = stack.enter_context(ConsumerThread(consume, name="walk-frames"))
        for first, frames in batches:
            consumer.put(first, frames)
    render_seconds = time.perf_counter() - started

    if outputs.sheet:
        ordered = torch.stack([sheet_frames[i] for i in sorted(sheet_frames)])
        save_image(make_grid(ordered, nrow=min(4, len(ordered))), outputs.sheet)
    return WalkVideo(total, (width, height), render_seconds, meter.spread, key_psnr,
                     sorted(keyframe_at), Path(outputs.sheet) if outputs.sheet else None)


def _sheet_indices(total: int, count: int) -> dict[int, int]:
    count = min(count, total)
    if count == 1:
        return {0: 0}
    return {round(i * (total - 1) / (count - 1)): i for i in range(count)}


def _keyframe_psnr(key: Keyframe, frame: torch.Tensor, frame_size: tuple[int, int],
                   fit: str) -> float | None:
    """How close a rendered keyframe is to the fitted original (latent side for --compare)."""
    from latentfx.images.metrics import psnr
    from latentfx.images.resizing import fit_to

    if not key.is_image:
        return None
    width, height = frame_size
    original = fit_to(key.image, height, width, fit)
    original = original.mul(255).round().div(255)  # the frame is 8-bit too
    return float(psnr(frame[..., -width:], original))
