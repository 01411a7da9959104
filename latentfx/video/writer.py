"""Video output through ffmpeg (DESIGN §2, Video); reading is in video/reader.py.

One writer for every container: raw RGB frames stream into ffmpeg's stdin from a background
thread, so the caller computes the next batch while ffmpeg encodes this one, and memory stays
bounded (a small queue) whatever the length. The argv is built with ffmpeg-python, never a
shell. Output goes to a temp name beside the target and is renamed only when ffmpeg finished
cleanly; on any failure the temp file goes and an existing output stays as it was.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from latentfx.errors import InputError, LatentfxError
from latentfx.io.atomic import atomic_path
from latentfx.runtime.consumer_thread import ConsumerThread
from latentfx.video.ffmpeg_binary import ffmpeg_exe, ffmpeg_file

STDERR_TAIL = 2000  # characters of ffmpeg's stderr quoted in an error
QUEUE_BATCHES = 2   # batches waiting for ffmpeg: enough to overlap, small enough to bound memory


def stderr_tail(stderr) -> str:
    """The end of what ffmpeg wrote to `stderr` (a binary temp file), to quote in a message."""
    stderr.seek(0)
    return stderr.read().decode("utf-8", "replace")[-STDERR_TAIL:].strip()


class VideoError(LatentfxError):
    """ffmpeg failed; the message carries the tail of its stderr."""


@dataclass(frozen=True)
class Container:
    label: str
    codec: str
    pix_fmt: str
    even_size: bool          # chroma subsampling needs even width and height
    crf: int | None = None   # default quality, for codecs that take -crf
    audio: str | None = None            # the encoder for a sound track (None: no sound)
    audio_copies: frozenset = frozenset()  # source audio codecs kept as they are


CONTAINERS = {
    # H.264 in yuv420p with the index up front: plays in browsers and QuickTime.
    ".mp4": Container("H.264 MP4", "libx264", "yuv420p", True, crf=18, audio="aac",
                      audio_copies=frozenset({"aac", "mp3", "alac", "ac3", "opus"})),
    ".webm": Container("VP9 WebM", "libvpx-vp9", "yuv420p", True, crf=32, audio="libopus",
                       audio_copies=frozenset({"opus", "vorbis"})),
    ".gif": Container("GIF", "gif", "pal8", False),
    # ProRes 422 HQ, 10-bit: the editing intermediate, with uncompressed sound beside it.
    ".mov": Container("ProRes MOV", "prores_ks", "yuv422p10le", True, audio="pcm_s16le",
                      audio_copies=frozenset({"aac", "alac", "pcm_s16le", "pcm_s24le",
                                              "pcm_f32le", "mp3"})),
}
SEQUENCE_PATTERN = "%05d.png"
_PATTERN = re.compile(r"%(0?\d*)d")


@dataclass(frozen=True)
class VideoTarget:
    """Where a video goes: a file of one of CONTAINERS, or a PNG sequence (folder + pattern)."""

    path: Path                 # the file, or the sequence's folder
    pattern: str | None = None  # e.g. "%05d.png" for a sequence

    @property
    def is_sequence(self) -> bool:
        return self.pattern is not None

    @property
    def needs_even_size(self) -> bool:
        return not self.is_sequence and CONTAINERS[self.path.suffix.lower()].even_size

    @property
    def carries_sound(self) -> bool:
        return not self.is_sequence and CONTAINERS[self.path.suffix.lower()].audio is not None

    @property
    def label(self) -> str:
        return "PNG sequence" if self.is_sequence else CONTAINERS[self.path.suffix.lower()].label


def video_target(output: str | os.PathLike) -> VideoTarget:
    """Read an output argument: a file with a video extension, a `name_%05d.png` pattern, or
    a folder (existing, ending in '/', or without an extension) for a `%05d.png` sequence.
    Checks that it can be written, before any work starts."""
    text = str(output)
    path = Path(text)
    if _PATTERN.search(path.name):
        if len(_PATTERN.findall(path.name)) != 1 or path.suffix.lower() != ".png":
            raise InputError(f"{text}: a frame pattern needs one %d (e.g. %05d) and a .png "
                             f"extension, like frames/walk_%05d.png")
        return _writable(VideoTarget(path.parent, path.name))
    suffix = path.suffix.lower()
    if suffix in CONTAINERS:
        if path.is_dir():
            raise InputError(f"{text}: is a folder; give a file name such as {path / 'walk.mp4'}")
        return _writable(VideoTarget(path))
    if path.is_dir() or text.endswith(("/", os.sep)) or not suffix:
        return _writable(VideoTarget(path, SEQUENCE_PATTERN))
    raise InputError(f"{text}: unknown video extension {path.suffix!r}; use one of "
                     f"{', '.join(CONTAINERS)}, a folder, or a %05d.png pattern")


def _writable(target: VideoTarget) -> VideoTarget:
    # A sequence folder may be created by us, but only inside a folder that exists.
    folder = target.path.parent if not target.is_sequence or not target.path.exists() \
        else target.path
    if target.is_sequence and target.path.exists() and not target.path.is_dir():
        raise InputError(f"{target.path}: is a file; a PNG sequence needs a folder")
    if not folder.is_dir():
        raise InputError(f"{target.path}: folder {folder} does not exist; create it first")
    if not os.access(folder, os.W_OK):
        raise InputError(f"{target.path}: folder {folder} is not writable")
    return target


def encoder_arguments(target: VideoTarget, *, crf: int | None = None,
                      codec: str | None = None, threads: int = 0) -> dict:
    """ffmpeg output options for a target; `codec` and `crf` override the container's.
    threads: encoder threads, 0 for ffmpeg's choice."""
    if target.is_sequence:
        return {"vcodec": codec or "png", "start_number": 0, "f": "image2", "threads": threads}
    c = CONTAINERS[target.path.suffix.lower()]
    args = {"vcodec": codec or c.codec, "pix_fmt": c.pix_fmt, "threads": threads}
    quality = crf if crf is not None else c.crf
    if quality is not None:
        args["crf"] = quality
    if c.codec == "libx264":
        args.update(movflags="+faststart", preset="medium", tune="film")
    elif c.codec == "libvpx-vp9":
        args.update({"b:v": 0, "row-mt": 1, "deadline": "good", "cpu-used": 4})
    elif c.codec == "prores_ks":
        args.update({"profile:v": 3, "vendor": "apl0"})  # 3 = HQ
    elif c.codec == "gif":
        args.update(loop=0)  # loop forever, as a GIF is expected to
    return args


@dataclass(frozen=True)
class SoundSource:
    """A file whose first audio track goes into the output beside the frames."""

    path: Path
    codec: str  # the track's codec, as ffmpeg names it (kept as is where the container takes it)


def ffmpeg_command(target: VideoTarget, destination: Path, *, width: int, height: int,
                   fps: float, crf: int | None = None, codec: str | None = None,
                   threads: int = 0, sound: SoundSource | None = None) -> list[str]:
    """argv for encoding raw RGB24 frames from stdin into `destination`, with the sound of
    `sound` when the target can carry it."""
    import ffmpeg

    stream = ffmpeg.input("pipe:", format="rawvideo", pix_fmt="rgb24", s=f"{width}x{height}",
                          framerate=fps)
    if not target.is_sequence and target.path.suffix.lower() == ".gif":
        # One palette for the whole clip from every frame's colours, applied with an ordered
        # dither: error diffusion shimmers from frame to frame; a bad palette bands.
        split = stream.split()
        palette = split[0].filter("palettegen", stats_mode="full")
        stream = ffmpeg.filter([split[1], palette], "paletteuse", dither="bayer",
                               bayer_scale=4, diff_mode="rectangle")
    streams, arguments = [stream], encoder_arguments(target, crf=crf, codec=codec,
                                                     threads=threads)
    if sound is not None and target.carries_sound:
        container = CONTAINERS[target.path.suffix.lower()]
        # The first sound track only: its codec is the one the choice below was made for.
        streams.append(ffmpeg.input(ffmpeg_file(sound.path))["a:0"])
        arguments["acodec"] = "copy" if sound.codec in container.audio_copies else container.audio
    out = ffmpeg.output(*streams, ffmpeg_file(destination), **arguments)
    return out.global_args("-hide_banner", "-loglevel", "error", "-nostats") \
        .overwrite_output().compile(cmd=ffmpeg_exe())


class VideoWriter:
    """with VideoWriter(target, width=, height=, fps=) as video: video.write(frames)

    frames: uint8 arrays (B, H, W, 3). Leaving the block normally finishes the encode and puts
    the output in place; leaving it by an exception kills ffmpeg and removes the temp output.
    sound: a file whose audio track is muxed in (ignored by targets without sound).

    encoder_threads: 0 lets ffmpeg choose (right when frames come fast, from a GPU). When the
    frames come from a model on the CPU, that model already uses every core and one encoder
    thread keeps up (x264 'medium' encodes 256x256 at ~400 frames/s), so pass 1: more threads
    only fight the decoder for the cores (measured in benchmarks/walk.py).
    """

    def __init__(self, target: VideoTarget, *, width: int, height: int, fps: float,
                 crf: int | None = None, codec: str | None = None, encoder_threads: int = 0,
                 sound: SoundSource | None = None):
        if target.needs_even_size and (width % 2 or height % 2):
            raise InputError(f"{target.path}: {target.label} needs an even width and height, "
                             f"got {width}x{height}")
        self.target, self.size = target, (width, height)
        self.options = dict(width=width, height=height, fps=fps, crf=crf, codec=codec,
                            threads=encoder_threads, sound=sound)
        self.frames_written = 0

    # -- lifecycle ----------------------------------------------------------------------------
    def __enter__(self) -> "VideoWriter":
        self._staging = _Staging(self.target)
        destination = self._staging.open()
        argv = ffmpeg_command(self.target, destination, **self.options)
        self._stderr = tempfile.TemporaryFile()
        self._process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                         stderr=self._stderr)
        # Writing to a pipe releases the GIL, so the feed overlaps with the caller's next batch.
        self._feed = ConsumerThread(self._send, maxsize=QUEUE_BATCHES, name="ffmpeg-feed")
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self._finish()
        else:
            self._abort()

    def write(self, frames: np.ndarray) -> None:
        if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[1:] != \
                (self.size[1], self.size[0], 3):
            raise ValueError(f"expected uint8 frames (B, {self.size[1]}, {self.size[0]}, 3), "
                             f"got {frames.dtype} {frames.shape}")
        try:
            self._feed.put(np.ascontiguousarray(frames))
        except OSError:  # BrokenPipeError included: ffmpeg has gone
            self._fail("ffmpeg stopped reading frames")
        self.frames_written += len(frames)

    # -- internals ----------------------------------------------------------------------------
    def _send(self, frames: np.ndarray) -> None:
        self._process.stdin.write(memoryview(frames).cast("B"))

    def _finish(self) -> None:
        try:
            self._feed.close()
            self._process.stdin.close()
        except OSError:
            self._fail("ffmpeg stopped reading frames")
        code = self._process.wait()
        if code != 0:
            self._fail(f"ffmpeg exited with code {code}")
        if self.frames_written == 0:
            self._fail("no frames were written")
        self._staging.commit(self.frames_written)
        self._stderr.close()

    def _abort(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
        self._feed.abandon()
        self._process.wait()
        self._staging.discard()
        self._stderr.close()

    def _fail(self, what: str):
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        tail = stderr_tail(self._stderr)
        self._abort()
        raise VideoError(f"{self.target.path}: {what} while writing {self.target.label}"
                         + (f"; ffmpeg said:\n{tail}" if tail else ""))


class _Staging:
    """The temp place ffmpeg writes to, and how it becomes the output."""

    def __init__(self, target: VideoTarget):
        self.target = target
        self._atomic = None
        self._folder: Path | None = None

    def open(self) -> Path:
        if not self.target.is_sequence:
            self._atomic = atomic_path(self.target.path)
            return self._atomic.__enter__()
        parent = self.target.path.parent
        self._folder = parent / f".{self.target.path.name}.{secrets.token_hex(6)}.partial"
        self._folder.mkdir()
        return self._folder / self.target.pattern

    def commit(self, frames: int) -> None:
        if self._atomic is not None:
            self._atomic.__exit__(None, None, None)
            return
        folder = self.target.path
        folder.mkdir(exist_ok=True)
        for i in range(frames):
            name = self.target.pattern % i
            os.replace(self._folder / name, folder / name)
        _remove_stale_frames(folder, self.target.pattern, frames)
        shutil.rmtree(self._folder, ignore_errors=True)

    def discard(self) -> None:
        if self._atomic is not None:
            self._atomic.__exit__(VideoError, VideoError("aborted"), None)
        elif self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)


def _remove_stale_frames(folder: Path, pattern: str, frames: int) -> None:
    """Frames numbered past the end, left by an earlier, longer render with the same pattern,
    would otherwise play on as part of this one."""
    head, _, tail = _PATTERN.split(pattern)
    matcher = re.compile(re.escape(head) + r"(\d+)" + re.escape(tail) + r"\Z")
    for entry in folder.iterdir():
        match = matcher.match(entry.name)
        if match and int(match.group(1)) >= frames and entry.is_file():
            entry.unlink()
