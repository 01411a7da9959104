"""Reading videos through ffmpeg: what a file holds (probe), how many frames it has, and its
frames as uint8 batches streamed from ffmpeg's stdout, so memory stays bounded whatever the
length. imageio-ffmpeg ships ffmpeg without ffprobe, so facts come from ffmpeg's own
description of its input."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from latentfx.errors import InputError
from latentfx.video.ffmpeg_binary import ffmpeg_exe, ffmpeg_file
from latentfx.video.writer import VideoError, stderr_tail

VIDEO_EXTENSIONS = frozenset({".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi", ".mpg",
                              ".mpeg", ".ts", ".mts", ".wmv", ".flv", ".ogv"})


@dataclass(frozen=True)
class VideoInfo:
    codec: str
    width: int
    height: int
    fps: float | None
    pix_fmt: str
    has_audio: bool
    audio_codec: str | None = None
    duration: float | None = None  # seconds, as the container states it

    def expected_frames(self) -> int | None:
        """What duration and rate promise: an estimate for progress (count_frames is exact)."""
        return round(self.duration * self.fps) if self.duration and self.fps else None


_VIDEO_STREAM = re.compile(r"Stream #\d+:\d+.*?: Video: (\w+)[^,]*, (\w+)(?:\([^)]*\))?.*?, "
                           r"(\d+)x(\d+)")
_AUDIO_STREAM = re.compile(r"Stream #\d+:\d+.*?: Audio: (\w+)")
_FPS = re.compile(r"([\d.]+) (?:fps|tbr)")
_DURATION = re.compile(r"Duration: (\d+):(\d+):([\d.]+)")
_ROTATION = re.compile(r"rotation of (-?[\d.]+) degrees")


def exact_rate(fps: float) -> float:
    """ffmpeg prints 24000/1001 as 23.98: the NTSC rates are snapped back to their exact
    fractions, or sound copied beside the frames drifts (0.7 s an hour)."""
    for base in (24, 30, 48, 60, 120):
        ntsc = base * 1000 / 1001
        if abs(fps - ntsc) < 0.006:
            return ntsc
    return fps


def probe(path: str | os.PathLike) -> VideoInfo:
    """Codec, size, frame rate and audio of a video."""
    result = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", ffmpeg_file(path)],
                            capture_output=True, text=True, errors="replace")
    match = _VIDEO_STREAM.search(result.stderr)
    if not match:
        raise InputError(f"{path}: not a video ffmpeg can read: "
                         f"{result.stderr.strip().splitlines()[-1:] or 'no output'}")
    line = result.stderr[match.start():].splitlines()[0]
    fps = _FPS.search(line)
    audio = _AUDIO_STREAM.search(result.stderr)
    width, height = int(match.group(3)), int(match.group(4))
    rotation = _ROTATION.search(result.stderr)
    duration = _DURATION.search(result.stderr)
    if rotation and round(float(rotation.group(1))) % 180 == 90:
        width, height = height, width  # a phone video: ffmpeg decodes it turned upright
    return VideoInfo(codec=match.group(1), pix_fmt=match.group(2), width=width, height=height,
                     fps=exact_rate(float(fps.group(1))) if fps else None,
                     has_audio=audio is not None, audio_codec=audio.group(1) if audio else None,
                     duration=_seconds(*duration.groups()) if duration else None)


def _seconds(hours: str, minutes: str, seconds: str) -> float:
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def count_frames(path: str | os.PathLike, *, info: VideoInfo | None = None,
                 progress: Callable[[int, int, str], None] | None = None) -> int:
    """The exact number of frames the reader will give: ffmpeg decodes the video (no frames
    dropped or repeated) and counts, since containers' own counts are often missing or wrong.
    progress(frames so far, frames expected, "counting frames") as it goes, when the container
    states its duration (a long video takes a while even without a model)."""
    expected = (info or probe(path)).expected_frames() if progress else None
    argv = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-i", ffmpeg_file(path),
            "-map", "0:v:0", "-fps_mode", "passthrough", "-progress", "pipe:1",
            "-f", "null", "-"]
    count = None
    with tempfile.TemporaryFile() as stderr:
        with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=stderr, text=True,
                              errors="replace") as process:  # closes the pipe, waits
            try:
                for line in process.stdout:  # key=value lines, a block about twice a second
                    key, _, value = line.strip().partition("=")
                    if key == "frame":
                        count = int(value)
                        if expected:
                            progress(min(count, expected), expected, "counting frames")
            except BaseException:  # interrupted: ffmpeg must not go on decoding alone
                process.kill()
                raise
        tail = stderr_tail(stderr)
    if process.returncode != 0 or count is None:
        raise VideoError(f"{path}: ffmpeg could not count its frames: {tail}")
    return count


class FrameReader:
    """with FrameReader(path, batch=8, start=10, stop=50) as frames: for batch in frames: ...

    Yields uint8 (B, H, W, 3) batches of frames [start, stop), exactly as stored: no frames
    dropped or duplicated to fit a frame rate. `warnings` holds what the decoder complained
    about (damaged frames are concealed by ffmpeg and still counted), once the reader closes.
    """

    def __init__(self, path: str | os.PathLike, *, batch: int = 8, start: int = 0,
                 stop: int | None = None, info: VideoInfo | None = None):
        self.path, self.batch, self.start, self.stop = path, batch, start, stop
        self.info = info or probe(path)  # a caller that probed already passes it
        self.warnings: list[str] = []

    def argv(self) -> list[str]:
        argv = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-i",
                ffmpeg_file(self.path), "-map", "0:v:0", "-fps_mode", "passthrough"]
        if self.start:
            # Counting decoded frames is the only exact way to find frame N in any codec;
            # decoding is far cheaper than the model, so skipping this way costs little.
            last = "" if self.stop is None else rf"*lt(n\,{self.stop})"
            argv += ["-vf", rf"select=gte(n\,{self.start}){last}"]
        if self.stop is not None:
            argv += ["-frames:v", str(self.stop - self.start)]
        return argv + ["-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:"]

    def __enter__(self) -> "FrameReader":
        self._stderr = tempfile.TemporaryFile()
        self._process = subprocess.Popen(self.argv(), stdout=subprocess.PIPE,
                                         stderr=self._stderr, stdin=subprocess.DEVNULL)
        return self

    def __iter__(self) -> Iterator[np.ndarray]:
        frame_bytes = self.info.width * self.info.height * 3
        while True:
            data = self._process.stdout.read(frame_bytes * self.batch)
            if len(data) < frame_bytes:
                break
            count = len(data) // frame_bytes
            # A writable array (the bytes object is not), so torch can take it as it is.
            yield np.frombuffer(bytearray(data[: count * frame_bytes]), np.uint8).reshape(
                count, self.info.height, self.info.width, 3)
        if self._process.wait() != 0:
            raise VideoError(f"{self.path}: ffmpeg could not decode it: {self._tail()}")

    def __exit__(self, *exc) -> None:
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait()
        self._process.stdout.close()
        self.warnings = [line for line in self._tail().splitlines() if line.strip()][-20:]
        self._stderr.close()

    def _tail(self) -> str:
        return stderr_tail(self._stderr)


def read_frames(path: str | os.PathLike) -> np.ndarray:
    """Every frame of a video (or `%05d.png` sequence) as uint8 (N, H, W, 3)."""
    with FrameReader(path, batch=64) as reader:
        batches = list(reader)
    info = reader.info
    return np.concatenate(batches) if batches else np.zeros((0, info.height, info.width, 3),
                                                             np.uint8)
