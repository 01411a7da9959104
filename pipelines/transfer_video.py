"""transfer of a video: frames stream from ffmpeg through the model in batches and straight
into the writer, so memory stays bounded whatever the length. The output keeps the input's
frame count, frame rate and sound. --smooth steadies the latents over a window of frames,
and every run reports its flicker: the output's mean frame-to-frame change divided by the
input's (1 = as steady as the source).

On the farm a long video splits into frame ranges (the chunk protocol of pipelines.chunks,
like walks). A chunk also reads window // 2 frames on either side of its range, so its
smoothed frames are exactly those of a local run.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from latentfx.errors import InputError, Interrupted
from pipelines.transfer_spec import TransferResult, TransferSpec, reinterpreter

__all__ = ["VideoTransferSpec", "prepare", "run", "frame_count", "render_frames", "assemble"]


@dataclass
class VideoTransferSpec(TransferSpec):
    """A transfer whose input is a video."""

    def validate(self) -> str:
        if super().validate() != "video":
            raise InputError(f"{self.input}: not a video")
        return "video"


@dataclass
class VideoTransfer:
    """Everything needed to transfer any frame range of a video (pipelines.chunks.Prepared)."""

    spec: VideoTransferSpec   # checked
    reinterpret: object       # latentfx.latents.transfer.Reinterpreter
    frame_count: int          # frames in the input, and so in the output
    size: tuple[int, int]     # (width, height) of the output
    fps: float
    model_id: str
    info: object              # latentfx.video.reader.VideoInfo of the input, probed once
    notes: list[str] = field(default_factory=list)

    def facts(self) -> dict:
        return {"model_id": self.model_id, "size": list(self.size), "fps": self.fps,
                "notes": list(self.notes)}


def frame_count(spec: VideoTransferSpec) -> int:
    """Frames in the input (the farm plans chunks so)."""
    from latentfx.video.reader import count_frames

    return count_frames(spec.input)


def _geometry(spec: VideoTransferSpec, info) -> tuple[tuple[int, int], float, list[str]]:
    """The output's (width, height) and frame rate, and notes where they differ from the
    input's (the farm's assembly takes them from the prepared transfer's facts)."""
    from latentfx.video.writer import video_target

    notes = []
    width, height = info.width, info.height
    if video_target(spec.output).needs_even_size and (width % 2 or height % 2):
        width, height = width - width % 2, height - height % 2
        notes.append(f"cropped to {width}x{height}: {Path(spec.output).suffix} needs even sizes")
    fps = info.fps
    if not fps:
        fps = 25.0
        notes.append("the input states no frame rate; wrote 25 frames per second")
    return (width, height), fps, notes


def prepare(spec: VideoTransferSpec, *, progress=None) -> VideoTransfer:
    """Probe and count the input, load the model: everything up to the first frame."""
    from latentfx.video.reader import count_frames, probe

    info = probe(spec.input)
    size, fps, notes = _geometry(spec, info)
    reinterpret, checkpoint = reinterpreter(spec)
    if spec.smooth >= 2 and spec.align and not reinterpret.spatial:
        notes.append("--smooth averaged the latents without motion alignment: a vector "
                     "model's latent is not a picture that can follow the motion")
    total = count_frames(spec.input, info=info, progress=progress)
    return VideoTransfer(spec, reinterpret, total, size, fps, checkpoint.model_id, info, notes)


def frame_batches(job: VideoTransfer, *, start: int = 0, stop: int | None = None,
                  cancel: Callable[[], bool] | None = None) -> Iterator[tuple[int, object, object]]:
    """(index of the first frame, output uint8 (B, H, W, 3), input uint8 (B, H, W, 3)) for
    frames [start, stop), batch by batch."""
    import numpy as np
    import torch

    from latentfx.images.loading import frames_to_tensor
    from latentfx.video.reader import FrameReader
    from latentfx.video.smoothing import smooth_latents
    from latentfx.walk.rendering import to_uint8_frames

    spec, width, height = job.spec, *job.size
    stop = job.frame_count if stop is None else stop
    reach = spec.smooth // 2
    first = max(0, start - reach)   # the window's context: read, encoded, never written

    # Smoothing moves neighbours along the optical flow when the latents are pictures
    # (spatial models) and --align is on; otherwise it averages them as they are.
    aligning = spec.smooth >= 2 and spec.align and job.reinterpret.spatial
    if aligning:
        from latentfx.video.flow import guide

    def encoded():
        """(latents, [(frame, its motion guide or None)]) batch by batch."""
        with FrameReader(spec.input, batch=spec.batch, start=first,
                         stop=min(job.frame_count, stop + reach), info=job.info) as reader:
            for frames in reader:
                if cancel and cancel():
                    raise Interrupted(f"cancelled near frame {first} of {job.frame_count}; no "
                                      f"output was written")
                frames = frames[:, :height, :width]
                z = job.reinterpret.encode(frames_to_tensor(frames))
                guides = [guide(f, *z.shape[-2:]) if aligning else None for f in frames]
                yield z, list(zip(frames, guides))
        job.notes.extend(f"decoder: {w}" for w in reader.warnings)

    def decoded(pending):
        originals = np.stack([f for _, f in pending])
        out = job.reinterpret.decode(torch.cat([z for z, _ in pending]), height=height,
                                     width=width)
        return to_uint8_frames(job.reinterpret.blend(out, frames_to_tensor(originals))), \
            originals

    index, pending = first, []
    for z, (frame, _) in smooth_latents(encoded(), window=max(1, spec.smooth),
                                        align=_aligned if aligning else None):
        if start <= index < stop:
            pending.append((z, frame))
        index += 1
        if len(pending) == spec.batch or (pending and index == stop):
            yield index - len(pending), *decoded(pending)
            pending = []
        if index >= stop:
            return  # the frames after `stop` that smoothing needed have been read
    if pending:  # the video ended before the frames it was counted to have
        yield index - len(pending), *decoded(pending)


def _aligned(z, centre, other):
    """smooth_latents' align: payloads are (frame, motion guide)."""
    from latentfx.video.flow import aligned

    return aligned(z, centre[1], other[1])


def run(spec: TransferSpec, *, progress: Callable[[int, int, str], None] | None = None,
        cancel: Callable[[], bool] | None = None) -> TransferResult:
    started = time.perf_counter()
    job = prepare(as_video(spec).checked(), progress=progress)
    pairs = ((out, original) for _, out, original in frame_batches(job, cancel=cancel))
    # One encoder thread when the model has the CPU's cores (see VideoWriter).
    threads = 1 if job.reinterpret.model.device.type == "cpu" else 0
    return _write(job, pairs, started=started, progress=progress, encoder_threads=threads)


def as_video(spec: TransferSpec) -> VideoTransferSpec:
    """The same transfer, as the spec of a video (which checks that the input is one)."""
    return spec if isinstance(spec, VideoTransferSpec) else VideoTransferSpec(
        **{f.name: getattr(spec, f.name) for f in dataclasses.fields(spec)})


def render_frames(job: VideoTransfer, start: int, stop: int, *,
                  write: Callable[[int, object], None],
                  cancel: Callable[[], bool] | None = None) -> None:
    """Transfer frames [start, stop) and hand each to write(index, uint8 (H, W, 3)): a farm
    chunk."""
    for first, out, _ in frame_batches(job, start=start, stop=stop, cancel=cancel):
        for i, pixels in enumerate(out):
            write(first + i, pixels)


def assemble(spec: VideoTransferSpec, frame_files: list[Path], *, facts: dict,
             progress: Callable[[int, int, str], None] | None = None,
             cancel: Callable[[], bool] | None = None) -> TransferResult:
    """Encode frames transferred by chunks (PNG files, in order), with the input's sound,
    exactly as run() would have; `facts` are the prepared transfer's."""
    import numpy as np
    from PIL import Image

    from latentfx.video.reader import FrameReader, probe

    started = time.perf_counter()
    info = probe(spec.input)  # for the sound and the originals the flicker compares with
    job = VideoTransfer(spec, None, len(frame_files), tuple(facts["size"]), facts["fps"],
                        facts["model_id"], info, list(facts["notes"]))
    width, height = job.size

    def pairs():
        with FrameReader(spec.input, batch=spec.batch, info=info) as reader:
            for start, original in zip(range(0, len(frame_files), spec.batch), reader):
                if cancel and cancel():
                    raise Interrupted(f"cancelled while assembling, at frame {start}; no "
                                      f"output was written")
                out = np.stack([np.asarray(Image.open(f).convert("RGB"))
                                for f in frame_files[start: start + spec.batch]])
                yield out, original[:, :height, :width]

    # One encoder thread, as a local CPU run uses: the same bits either way.
    return _write(job, pairs(), started=started, progress=progress, encoder_threads=1)


def _write(job: VideoTransfer, pairs, *, started: float, encoder_threads: int,
           progress: Callable[[int, int, str], None] | None) -> TransferResult:
    """Shared by local runs and farm assembly: stream (output, input) batches into the video,
    measure flicker on both, write the manifest."""
    from latentfx.io.manifests import input_record, write_manifest
    from latentfx.video.smoothing import FlickerMeter
    from latentfx.video.writer import SoundSource, VideoWriter, video_target

    spec, (width, height), info = job.spec, job.size, job.info
    target = video_target(spec.output)
    sound = SoundSource(Path(spec.input), info.audio_codec) if info.has_audio else None
    if sound and not target.carries_sound:
        job.notes.append(f"the sound was left out: a {target.label} has no sound track")
    meters = FlickerMeter(), FlickerMeter()
    written = 0
    with VideoWriter(target, width=width, height=height, fps=job.fps, crf=spec.crf,
                     codec=spec.codec, encoder_threads=encoder_threads, sound=sound) as video:
        for out, original in pairs:
            video.write(out)
            meters[0].update(out)
            meters[1].update(original)
            written += len(out)
            if progress:
                progress(written, job.frame_count, "frames")
    if written != job.frame_count:
        job.notes.append(f"the decoder gave {written} frames where {job.frame_count} were "
                         f"counted; the output has {written}")
    flicker = {"output": round(meters[0].mean, 3), "input": round(meters[1].mean, 3),
               "ratio": round(meters[0].mean / meters[1].mean, 3) if meters[1].mean else None}
    seconds = time.perf_counter() - started
    write_manifest(spec.output.rstrip("/"), job="transfer", spec=asdict(spec),
                   model_id=job.model_id, inputs=[input_record(spec.input)],
                   timings={"seconds": round(seconds, 3),
                            "frames_per_second": round(written / seconds, 2)},
                   results={"kind": "video", "frames": written, "fps": job.fps,
                            "size": [width, height], "flicker": flicker,
                            "sound": bool(sound and target.carries_sound), "notes": job.notes})
    return TransferResult(Path(spec.output), "video", written, [], seconds, job.notes, flicker,
                          bool(sound and target.carries_sound))
