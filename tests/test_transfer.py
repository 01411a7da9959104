"""Material transfer: pictures, folders and videos read back through another model."""

import json
import shutil
import subprocess

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import cli
from latentfx.images.metrics import psnr
from latentfx.latents.tiling import tile_starts
from latentfx.video.ffmpeg_binary import ffmpeg_exe
from latentfx.video.reader import probe, read_frames
from pipelines import transfer, transfer_video


def invoke(*args):
    return CliRunner().invoke(cli.cli, [str(a) for a in args], catch_exceptions=False)


def make_video(path, *, frames=12, fps=12, sound=True, noise=0.0, moving=True, seed=0):
    """A gradient, moving or still, plus fresh noise in every frame if asked, as a lossless
    H.264 file with a sine tone as its sound track."""
    rng = np.random.default_rng(seed)
    h, w = 48, 64
    yy, xx = np.mgrid[0:h, 0:w]
    argv = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo",
            "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-framerate", str(fps), "-i", "pipe:"]
    if sound:
        argv += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={frames / fps}",
                 "-c:a", "aac"]
    argv += ["-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuv444p", str(path)]
    video = []
    for t in range(frames):
        t = t if moving else 0
        frame = np.stack([(xx * 4 + t * 3) % 256, (yy * 5) % 256,
                          np.full_like(xx, 128 + t * 4)], -1).astype(float)
        frame += rng.normal(0, noise, frame.shape)
        video.append(frame.clip(0, 255).astype(np.uint8))
    subprocess.run(argv, input=np.stack(video).tobytes(), check=True)
    return path


def write_video(path, frames, fps=12):
    """uint8 (N, H, W, 3) frames as a lossless H.264 file."""
    n, h, w, _ = frames.shape
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo",
                    "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-framerate", str(fps), "-i", "pipe:",
                    "-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuv444p", str(path)],
                   input=frames.tobytes(), check=True)
    return path


def panning_texture(path, *, frames=12, step=2):
    """A smooth random texture sliding right by `step` pixels a frame: all motion, no noise."""
    from PIL import ImageFilter

    rng = np.random.default_rng(5)
    texture = Image.fromarray(rng.integers(0, 256, (96, 256, 3), dtype=np.uint8))
    texture = np.asarray(texture.filter(ImageFilter.GaussianBlur(3)))
    texture = ((texture.astype(float) - texture.mean()) * 4 + 128).clip(0, 255).astype(np.uint8)
    return write_video(path, np.stack([texture[:, 64 - t * step: 192 - t * step]
                                       for t in range(frames)]))


def test_tiles_cover_the_picture_and_overlap():
    assert tile_starts(100, 128, 16) == [0]
    starts = tile_starts(300, 128, 32)
    assert starts[0] == 0 and starts[-1] + 128 == 300
    assert all(b - a <= 128 - 32 for a, b in zip(starts, starts[1:]))


def test_tiles_blend_without_seams(tiny_spatial_model, shapes_folder):
    from latentfx.latents.transfer import Reinterpreter
    from latentfx.models.loading import load_model

    model, _ = load_model(str(tiny_spatial_model), device="cpu")
    x = torch.rand(1, 3, 1, 1, generator=torch.Generator().manual_seed(0))
    x = x.expand(1, 3, 90, 130).clone()
    x += torch.linspace(0, 0.5, 130).view(1, 1, 1, -1) - 0.25
    x = x.clamp(0, 1)
    whole = Reinterpreter(model, tile=4096)(x)
    blended = Reinterpreter(model, tile=64, overlap=24)(x)
    butted = Reinterpreter(model, tile=64, overlap=0)(x)
    assert blended.shape == x.shape
    # Measured: 44 dB blended, 27 dB butted (the bundled model gives 61 dB vs 48 dB).
    assert psnr(blended[0], whole[0]) > 40
    assert psnr(blended[0], whole[0]) > psnr(butted[0], whole[0]) + 10


def test_strength_blends_the_original_and_the_reading(tiny_vector_model, shapes_folder,
                                                      tmp_path):
    source = shapes_folder / "shape_000002.png"
    original = np.asarray(Image.open(source).convert("RGB")).astype(float)
    outs = {}
    for strength in (0.0, 0.5, 1.0):
        out = tmp_path / f"{strength}.png"
        transfer.run(transfer.TransferSpec(input=str(source), output=str(out),
                                           model=str(tiny_vector_model), strength=strength,
                                           device="cpu"))
        outs[strength] = np.asarray(Image.open(out)).astype(float)
    assert np.abs(outs[0.0] - original).max() <= 1
    assert np.abs(outs[1.0] - original).mean() > 5
    assert np.abs(outs[0.5] - (outs[0.0] + outs[1.0]) / 2).max() <= 1.5


def test_a_folder_mirrors_its_tree_and_lists_what_it_skipped(tiny_vector_model, shapes_folder,
                                                             tmp_path):
    source = tmp_path / "in"
    (source / "a" / "b").mkdir(parents=True)
    shutil.copy(shapes_folder / "shape_000001.png", source / "top.png")
    shutil.copy(shapes_folder / "shape_000002.png", source / "a" / "one.png")
    Image.open(shapes_folder / "shape_000003.png").convert("RGB").save(source / "a" / "b" / "x.jpg")
    Image.open(shapes_folder / "shape_000004.png").save(source / "a" / "b" / "anim.gif")
    (source / "a" / "broken.png").write_bytes(b"\x89PNG not really")
    result = invoke("transfer", source, "-o", tmp_path / "out", "-m", tiny_vector_model,
                    "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert "wrote" in result.stdout and "broken.png" in result.output
    written = sorted(p.relative_to(tmp_path / "out").as_posix()
                     for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert written == ["a/b/anim.gif.png", "a/b/x.jpg", "a/one.png", "top.png"]
    assert Image.open(tmp_path / "out" / "top.png").size == (32, 32)
    manifest = json.loads((tmp_path / "out.latentfx.json").read_text())
    assert [s["path"].endswith("broken.png") for s in manifest["skipped"]] == [True]
    assert manifest["results"]["written"] == 4


def test_bad_inputs_get_clear_messages(tiny_vector_model, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    result = invoke("transfer", notes, "-o", tmp_path / "x.png", "-m", tiny_vector_model)
    assert result.exit_code == 3 and "not a supported image" in result.output
    folder = tmp_path / "pics"
    folder.mkdir()
    inside = invoke("transfer", folder, "-o", folder / "out", "-m", tiny_vector_model)
    assert inside.exit_code == 3 and "inside the input folder" in inside.output
    video = make_video(tmp_path / "v.mp4", frames=2, sound=False)
    strong = invoke("transfer", video, "-o", tmp_path / "o.mp4", "--strength", 2)
    assert strong.exit_code == 3 and "--strength" in strong.output


@pytest.mark.parametrize("sound", [True, False])
def test_a_video_keeps_its_frames_rate_and_sound(tiny_spatial_model, tmp_path, sound):
    source = make_video(tmp_path / "in.mp4", frames=12, fps=12, sound=sound)
    out = tmp_path / "out.mp4"
    result = invoke("transfer", source, "-o", out, "-m", tiny_spatial_model, "--device", "cpu",
                    "--batch", 5)
    assert result.exit_code == 0, result.output
    info = probe(out)
    assert (info.width, info.height, info.fps, info.has_audio) == (64, 48, 12.0, sound)
    assert len(read_frames(out)) == 12
    assert ("with the input's sound" in result.stdout) == sound
    assert "flicker:" in result.stdout


def test_a_video_run_shows_progress_from_counting_to_the_last_frame(tiny_spatial_model,
                                                                    tmp_path):
    source = make_video(tmp_path / "in.mp4", frames=14, fps=7, sound=False)
    spec = transfer.TransferSpec(input=str(source), output=str(tmp_path / "o.mp4"),
                                 model=str(tiny_spatial_model), batch=4, device="cpu")
    calls = []
    transfer_video.run(spec, progress=lambda done, total, stage: calls.append(
        (done, total, stage)))
    counting = [call for call in calls if call[2] == "counting frames"]
    assert counting and counting[-1] == (14, 14, "counting frames")  # the container says 2 s
    assert calls[-1] == (14, 14, "frames") and calls.index(counting[-1]) < len(counting)


def test_smoothing_lowers_flicker(tiny_spatial_model, tmp_path):
    # A still picture whose noise changes every frame: all its flicker is jitter.
    source = make_video(tmp_path / "noisy.mp4", frames=16, sound=False, noise=12.0,
                        moving=False)
    ratios = []
    for smooth in (0, 5):
        result = transfer.run(transfer.TransferSpec(
            input=str(source), output=str(tmp_path / f"s{smooth}.mp4"),
            model=str(tiny_spatial_model), smooth=smooth, device="cpu"))
        assert result.written == 16
        ratios.append(result.flicker["ratio"])
    assert ratios[1] < 0.8 * ratios[0]


def test_chunks_with_smoothing_match_a_whole_run(tiny_spatial_model, tmp_path):
    source = make_video(tmp_path / "in.mp4", frames=11, sound=False, noise=6.0)
    spec = transfer_video.VideoTransferSpec(input=str(source), output=str(tmp_path / "o.mp4"),
                                            model=str(tiny_spatial_model), smooth=4, batch=3,
                                            device="cpu").checked()
    assert transfer_video.frame_count(spec) == 11
    job = transfer_video.prepare(spec)
    whole = np.concatenate([out for _, out, _ in transfer_video.frame_batches(job)])
    pieces = {}
    for start, stop in [(0, 4), (4, 9), (9, 11)]:
        transfer_video.render_frames(job, start, stop,
                                     write=lambda i, pixels: pieces.setdefault(i, pixels))
    assert sorted(pieces) == list(range(11))
    chunked = np.stack([pieces[i] for i in range(11)])
    assert np.abs(chunked.astype(int) - whole.astype(int)).max() <= 1


def test_motion_aligned_smoothing_does_not_smear_what_moves(tmp_path):
    # The bundled model: it redraws the texture well enough for smearing to show (the tiny
    # one blurs it away whatever the smoothing). Measured: 4.3 levels plain, 2.6 aligned.
    source = panning_texture(tmp_path / "pan.mp4")
    outputs = {}
    for name, options in {"none": [], "plain": ["--smooth", 5, "--no-align"],
                          "aligned": ["--smooth", 5]}.items():
        out = tmp_path / f"{name}.mp4"
        result = invoke("transfer", source, "-o", out, "--device", "cpu", *options)
        assert result.exit_code == 0, result.output
        outputs[name] = read_frames(out)[2:-2].astype(float)  # frames with a full window
    smear = {name: np.abs(outputs[name] - outputs["none"]).mean() for name in ("plain", "aligned")}
    assert smear["aligned"] < 0.75 * smear["plain"], smear


def test_alignment_follows_motion_and_drops_a_scene_cut():
    from latentfx.video.flow import aligned, guide

    rng = np.random.default_rng(2)
    scene = np.asarray(Image.fromarray(rng.integers(0, 256, (48, 96, 3), dtype=np.uint8))
                       .resize((384, 192), Image.BICUBIC))
    here, moved_on = scene[:, 40:296], scene[:, 32:288]   # the view pans 8 pixels
    g_here, g_next = guide(here, 24, 32), guide(moved_on, 24, 32)
    z = torch.from_numpy(g_next)[None, None]
    back, weight = aligned(z, g_here, g_next)
    inner = (slice(None), slice(None), slice(4, -4), slice(4, -4))
    assert (back - torch.from_numpy(g_here))[inner].abs().mean() < \
        0.5 * (z - torch.from_numpy(g_here))[inner].abs().mean()
    assert weight[inner].mean() > 0.6
    cut = guide(255 - here[:, ::-1], 24, 32)  # another shot entirely
    _, weight = aligned(torch.from_numpy(cut)[None, None], g_here, cut)
    assert weight.max() == 0


def test_awkward_videos_phone_rotation_two_sound_tracks_ntsc_rate_colon_names(
        tiny_vector_model, tmp_path):
    ff = ffmpeg_exe()
    run = lambda *a: subprocess.run([ff, "-hide_banner", "-loglevel", "error", "-y", *map(str, a)],
                                    check=True)
    plain = tmp_path / "plain.mp4"
    run("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=24000/1001:duration=0.5",
        "-c:v", "libx264", "-pix_fmt", "yuv420p", plain)
    rotated = tmp_path / "phone:1.mp4"  # a colon is not a protocol
    run("-display_rotation", 90, "-i", plain, "-c", "copy", rotated)
    assert probe(plain).fps == 24000 / 1001
    assert (probe(rotated).width, probe(rotated).height) == (48, 64)
    out = tmp_path / "up:right.mp4"
    result = invoke("transfer", rotated, "-o", out, "-m", tiny_vector_model, "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert read_frames(out).shape == (12, 64, 48, 3) and probe(out).fps == 24000 / 1001

    two = tmp_path / "two.mkv"
    run("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=12:duration=0.5", "-f", "lavfi", "-i",
        "sine=duration=0.5", "-f", "lavfi", "-i", "sine=frequency=200:duration=0.5",
        "-map", 0, "-map", 1, "-map", 2, "-c:v", "libx264", "-c:a:0", "libopus",
        "-c:a:1", "flac", two)
    result = invoke("transfer", two, "-o", tmp_path / "two.webm", "-m", tiny_vector_model,
                    "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert probe(tmp_path / "two.webm").audio_codec == "opus"


def test_folder_results_never_overwrite_each_other_or_the_input(tiny_vector_model,
                                                                shapes_folder, tmp_path):
    source = tmp_path / "in"
    source.mkdir()
    Image.open(shapes_folder / "shape_000001.png").save(source / "a.bmp")
    shutil.copy(shapes_folder / "shape_000002.png", source / "a.bmp.png")
    result = invoke("transfer", source, "-o", tmp_path / "out", "-m", tiny_vector_model)
    assert result.exit_code == 0 and "would overwrite" in result.output
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["a.bmp.png"]
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.png").write_bytes(b"")
    (bad / "y.jpg").write_bytes(b"not a jpeg")
    result = invoke("transfer", bad, "-o", tmp_path / "bad-out", "-m", tiny_vector_model)
    assert result.exit_code == 3 and "none of its 2 pictures" in result.output
    picture = tmp_path / "self.png"
    shutil.copy(shapes_folder / "shape_000003.png", picture)
    result = invoke("transfer", picture, "-o", picture, "-m", tiny_vector_model)
    assert result.exit_code == 3 and "is the input picture" in result.output
