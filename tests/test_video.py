"""The ffmpeg writer with the real ffmpeg: decode what was written."""

import os

import numpy as np
import pytest

from latentfx.errors import InputError
from latentfx.video.reader import probe, read_frames
from latentfx.video.writer import VideoError, VideoWriter, video_target


def gradient_frames(n=12, height=48, width=64):
    """Smooth moving gradients: what lossy codecs keep well, so content can be checked."""
    y, x = np.mgrid[0:height, 0:width]
    frames = [np.stack([(x * 4 + 10 * i) % 256, (y * 5) % 256,
                        np.full_like(x, 20 * i % 256)], axis=-1) for i in range(n)]
    return np.asarray(frames, dtype=np.uint8)


def write(target_text, frames, **options):
    target = video_target(target_text)
    with VideoWriter(target, width=frames.shape[2], height=frames.shape[1], fps=24,
                     **options) as video:
        for start in range(0, len(frames), 5):
            video.write(frames[start: start + 5])
    return target


@pytest.mark.parametrize("name, codec, pix_fmt, tolerance", [
    ("walk.mp4", "h264", "yuv420p", 12),
    ("walk.webm", "vp9", "yuv420p", 12),
    ("walk.gif", "gif", None, 40),
    ("walk.mov", "prores", "yuv422p10le", 6),
    ("frames/", "png", "rgb24", 0),
    ("seq_%04d.png", "png", "rgb24", 0),
])
def test_each_container_keeps_every_frame_at_its_size(tmp_path, name, codec, pix_fmt, tolerance):
    frames = gradient_frames()
    target = write(str(tmp_path / name), frames)
    readable = target.path / target.pattern if target.is_sequence else target.path
    info = probe(readable)
    assert (info.codec, info.width, info.height) == (codec, 64, 48)
    if pix_fmt:
        assert info.pix_fmt == pix_fmt
    decoded = read_frames(readable)
    assert decoded.shape == frames.shape
    assert np.abs(decoded.astype(int) - frames).mean() <= tolerance
    leftovers = [p for p in os.listdir(tmp_path) if "partial" in p]
    assert not leftovers


def test_mp4_is_streamable(tmp_path):
    target = write(str(tmp_path / "a.mp4"), gradient_frames())
    data = target.path.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")  # faststart: the index comes first


def test_odd_size_is_refused_for_yuv420p(tmp_path):
    with pytest.raises(InputError, match="even width and height"):
        VideoWriter(video_target(tmp_path / "a.mp4"), width=63, height=48, fps=24)


def test_a_failed_encode_keeps_the_old_output_and_quotes_ffmpeg(tmp_path):
    good = write(str(tmp_path / "a.mp4"), gradient_frames())
    before = good.path.read_bytes()
    with pytest.raises(VideoError, match=r"(?s)ffmpeg.*said:.*no-such-encoder"):
        write(str(tmp_path / "a.mp4"), gradient_frames(), codec="no-such-encoder")
    assert good.path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["a.mp4"]


def test_an_exception_while_rendering_leaves_nothing_behind(tmp_path):
    frames = gradient_frames()
    target = video_target(tmp_path / "a.webm")
    with pytest.raises(KeyboardInterrupt):
        with VideoWriter(target, width=64, height=48, fps=24) as video:
            video.write(frames[:4])
            raise KeyboardInterrupt
    assert os.listdir(tmp_path) == []


def test_a_shorter_sequence_removes_the_stale_frames_of_a_longer_one(tmp_path):
    write(str(tmp_path / "seq"), gradient_frames(12))
    (tmp_path / "seq" / "notes.txt").write_text("mine")
    write(str(tmp_path / "seq"), gradient_frames(5))
    assert sorted(os.listdir(tmp_path / "seq")) == [f"{i:05d}.png" for i in range(5)] + ["notes.txt"]
    assert len(read_frames(tmp_path / "seq" / "%05d.png")) == 5


def test_wrong_frames_are_refused(tmp_path):
    with VideoWriter(video_target(tmp_path / "a.mp4"), width=64, height=48, fps=24) as video:
        with pytest.raises(ValueError, match="uint8"):
            video.write(gradient_frames()[..., :2])
        video.write(gradient_frames())


@pytest.mark.parametrize("name, message", [
    ("walk.avi", "unknown video extension '.avi'"),
    ("missing/walk.mp4", "does not exist"),
    ("frames_%d_%d.png", "one %d"),
    ("frames_%05d.jpg", "one %d"),
])
def test_bad_targets_are_named(tmp_path, name, message):
    with pytest.raises(InputError, match=message):
        video_target(str(tmp_path / name))


def test_a_folder_named_like_a_video_is_refused(tmp_path):
    (tmp_path / "walk.mp4").mkdir()
    with pytest.raises(InputError, match="is a folder"):
        video_target(tmp_path / "walk.mp4")
