"""`latentfx walk` end to end on tiny models, with the real ffmpeg: decode what was written."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import cli
from latentfx.errors import InputError, Interrupted
from latentfx.images.loading import image_to_tensor, load_image
from latentfx.images.metrics import psnr
from latentfx.images.resizing import fit_to
from latentfx.models.loading import load_model
from latentfx.video.reader import probe, read_frames
from latentfx.walk.rendering import to_uint8_frames
from pipelines import walk


def invoke(*args):
    return CliRunner().invoke(cli.cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def keyframes(shapes_folder):
    return [str(shapes_folder / f"shape_{i:06d}.png") for i in (0, 3, 7)]


def run_walk(model, keyframes, output, **options):
    spec = walk.WalkSpec(keyframes=[str(k) for k in keyframes], output=str(output),
                         model=str(model), device="cpu", **options)
    return walk.run(spec)


def frames_of(target):
    target = str(target)
    return read_frames(os.path.join(target, "%05d.png") if target.endswith("/") else target)


def image(path):
    return image_to_tensor(load_image(path))


def steps(frames):
    flat = torch.from_numpy(frames).float().reshape(len(frames), -1) / 255
    return (flat[1:] - flat[:-1]).pow(2).mean(1).sqrt()


def test_first_and_last_frames_are_the_keyframes_reconstructions(tiny_spatial_model, keyframes,
                                                                 tmp_path):
    result = run_walk(tiny_spatial_model, keyframes, f"{tmp_path}/frames/", frames=4)
    frames = frames_of(f"{tmp_path}/frames/")
    assert len(frames) == result.frames == 4 * 2 + 1
    model, _ = load_model(str(tiny_spatial_model), device="cpu")
    for index, key in ((0, keyframes[0]), (4, keyframes[1]), (-1, keyframes[2])):
        x = image(key)[None]
        expected = to_uint8_frames(model.reconstruct(x))[0]
        assert np.abs(frames[index].astype(int) - expected).max() <= 1


def test_residual_keyframes_reproduce_the_originals(tiny_spatial_model, keyframes, tmp_path):
    result = run_walk(tiny_spatial_model, keyframes, tmp_path / "walk_%03d.png", frames=4,
                      residual=True)
    frames = read_frames(tmp_path / "walk_%03d.png")
    for index, key in zip((0, 4, 8), keyframes):
        rendered = torch.from_numpy(frames[index]).permute(2, 0, 1).float() / 255
        assert psnr(rendered, image(key)) >= 40
    assert all(p >= 40 for p in result.keyframe_psnr)
    plain = run_walk(tiny_spatial_model, keyframes, tmp_path / "plain_%03d.png", frames=4)
    assert max(plain.keyframe_psnr) < 40  # the tiny model alone is far from exact
    between = read_frames(tmp_path / "walk_%03d.png")[2]
    assert not np.array_equal(between, frames[0]) and not np.array_equal(between, frames[4])


def test_frames_are_the_decoded_path_plus_blended_residuals_in_uint8(tiny_spatial_model,
                                                                     keyframes, tmp_path):
    # The frames are blended and made uint8 on the model's device (then copied back): on
    # the CPU that is exactly the plain computation, written out here step by step.
    run_walk(tiny_spatial_model, keyframes[:2], f"{tmp_path}/w/", frames=4, residual=True,
             ease="linear", size=(32, 32), morph="none",
             interp="lerp")
    model, _ = load_model(tiny_spatial_model, device="cpu")
    pictures = torch.stack([fit_to(image(k), 32, 32, "crop") for k in keyframes[:2]])
    with torch.inference_mode():
        z = model.encode(pictures).mode()
        residuals = pictures - model.decode(z, size=(32, 32))
        t = torch.linspace(0, 1, 5).reshape(-1, 1, 1, 1)
        decoded = model.decode((1 - t) * z[0] + t * z[1], size=(32, 32))
        frames = (decoded + (1 - t) * residuals[0] + t * residuals[1]).clamp(0, 1)
    expected = frames.mul(255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    assert np.array_equal(frames_of(f"{tmp_path}/w/"), expected)


@pytest.mark.parametrize("interp", ["lerp", "slerp", "spline"])
def test_a_loop_has_no_seam(tiny_spatial_model, keyframes, tmp_path, interp):
    result = run_walk(tiny_spatial_model, keyframes, f"{tmp_path}/loop/", frames=6, loop=True,
                      interp=interp, ease="linear")
    frames = frames_of(f"{tmp_path}/loop/")
    assert len(frames) == result.frames == 6 * 3
    around = steps(np.concatenate([frames, frames[:1]]))
    seam, rest = around[-1], around[:-1]
    assert seam > 0  # the first frame is not repeated
    assert seam <= 1.5 * rest.max()  # and there is no jump


def test_random_loop_from_the_prior(tiny_vector_model, tmp_path):
    out = tmp_path / "random.webm"
    result = invoke("walk", "--random", "--keys", 3, "--seed", 5, "--duration", 1, "--fps", 12,
                    "--loop", "-o", out, "-m", tiny_vector_model, "--device", "cpu")
    assert result.exit_code == 0, result.output
    frames = read_frames(out)
    assert frames.shape == (12, 256, 256, 3)  # a vector model upscaled to the default size
    manifest = json.loads((tmp_path / "random.webm.latentfx.json").read_text())
    assert manifest["spec"]["keyframes"] == ["seed:5", "seed:6", "seed:7"]
    assert manifest["spec"]["interp"] == "spline"


def test_uniform_pacing_evens_out_the_frame_to_frame_change(tiny_spatial_model, keyframes,
                                                            tmp_path):
    keys = [keyframes[0], "seed:1", keyframes[2]]
    naive = run_walk(tiny_spatial_model, keys, f"{tmp_path}/a/", frames=12, ease="linear")
    even = run_walk(tiny_spatial_model, keys, f"{tmp_path}/b/", frames=12, ease="linear",
                    pacing="uniform")
    assert even.frames == naive.frames
    assert even.step_spread < 0.5 * naive.step_spread
    measured = steps(frames_of(f"{tmp_path}/b/"))
    assert float(measured.std(unbiased=False) / measured.mean()) == pytest.approx(
        even.step_spread, rel=0.1, abs=0.01)


@pytest.mark.parametrize("name", ["walk.mp4", "walk.gif", "walk.mov", "walk.webm"])
def test_frame_count_and_size_in_every_container(tiny_spatial_model, keyframes, tmp_path, name):
    out = tmp_path / name
    result = invoke("walk", *keyframes, "-o", out, "--frames", 3, "--hold", 2, "--size", "40x32",
                    "-m", tiny_spatial_model, "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert f"wrote {out}: 13 frames at 40x32" in result.output
    assert read_frames(out).shape == (3 * 2 + 1 + 3 * 2, 32, 40, 3)
    assert (tmp_path / f"{name}.latentfx.json").exists()


def test_pixel_space_is_a_crossfade_and_compare_puts_it_beside_the_walk(tiny_spatial_model,
                                                                        keyframes, tmp_path):
    run_walk(tiny_spatial_model, keyframes[:2], f"{tmp_path}/pixel/", frames=2, space="pixel",
             interp="lerp", ease="linear")
    middle = frames_of(f"{tmp_path}/pixel/")[1].astype(float)
    expected = (image(keyframes[0]) + image(keyframes[1])).permute(1, 2, 0).numpy() / 2 * 255
    assert np.abs(middle - expected).max() <= 1
    result = run_walk(tiny_spatial_model, keyframes[:2], f"{tmp_path}/both/", frames=2,
                      compare=True, interp="lerp", ease="linear", morph="none")
    both = frames_of(f"{tmp_path}/both/")
    assert result.size == (64, 32) and both.shape == (3, 32, 64, 3)
    assert np.abs(both[1, :, :32].astype(float) - expected).max() <= 1


def test_keyframes_of_other_aspects_are_fitted(tiny_spatial_model, keyframes, tmp_path):
    wide = tmp_path / "wide.png"
    Image.fromarray(np.full((20, 60, 3), 200, np.uint8)).save(wide)
    for fit in ("crop", "pad", "stretch"):
        result = run_walk(tiny_spatial_model, [keyframes[0], wide], f"{tmp_path}/{fit}/",
                          frames=2, fit=fit, size=(32, 32), residual=True)
        frames = frames_of(f"{tmp_path}/{fit}/")
        assert frames.shape == (3, 32, 32, 3)
        last = torch.from_numpy(frames[-1]).permute(2, 0, 1).float() / 255
        assert psnr(last, fit_to(image(wide), 32, 32, fit)) >= 40
        assert result.keyframe_psnr[1] >= 40


def test_odd_sizes_are_rounded_for_yuv420p_and_kept_for_png(tiny_spatial_model, keyframes,
                                                            tmp_path):
    result = invoke("walk", *keyframes[:2], "-o", tmp_path / "a.mp4", "--size", "41x33",
                    "--frames", 2, "-m", tiny_spatial_model, "--device", "cpu")
    assert result.exit_code == 0
    assert "41x33 rounded down to 40x32" in result.output
    assert probe(tmp_path / "a.mp4").width == 40
    png = run_walk(tiny_spatial_model, keyframes[:2], f"{tmp_path}/odd/", frames=2, size=(41, 33))
    assert png.size == (41, 33) and not any("rounded" in note for note in png.notes)


def test_rerender_from_the_manifest_gives_the_same_frames(tiny_spatial_model, keyframes,
                                                          tmp_path):
    run_walk(tiny_spatial_model, [keyframes[0], "seed:4", keyframes[2]], f"{tmp_path}/first/",
             frames=3, pacing="uniform", interp="spline", residual=True, loop=True)
    manifest = tmp_path / "first.latentfx.json"
    result = invoke("rerender", manifest, "-o", f"{tmp_path}/again/")
    assert result.exit_code == 0, result.output
    assert np.array_equal(frames_of(f"{tmp_path}/first/"), frames_of(f"{tmp_path}/again/"))


def test_rerender_works_from_another_folder_and_keeps_the_original_files(
        tiny_spatial_model, keyframes, tmp_path, monkeypatch):
    """Relative paths in a manifest are the folder the job ran in's; a new -o moves the
    other outputs (the contact sheet) beside it rather than overwriting the original's."""
    ran_in, elsewhere = tmp_path / "ran_in", tmp_path / "elsewhere"
    ran_in.mkdir(), elsewhere.mkdir()
    for n, key in enumerate(keyframes[:2]):
        (ran_in / f"k{n}.png").write_bytes(open(key, "rb").read())
    monkeypatch.chdir(ran_in)
    result = invoke("walk", "k0.png", "k1.png", "-o", "w.gif", "--sheet", "w-sheet.png",
                    "--frames", 2, "-m", tiny_spatial_model, "--device", "cpu")
    assert result.exit_code == 0, result.output
    sheet_written = (ran_in / "w-sheet.png").stat().st_mtime_ns

    monkeypatch.chdir(elsewhere)
    result = invoke("rerender", "../ran_in/w.gif.latentfx.json", "-o", "take2.gif")
    assert result.exit_code == 0, result.output
    assert (elsewhere / "take2.gif").is_file() and (elsewhere / "take2-sheet.png").is_file()
    assert (ran_in / "w-sheet.png").stat().st_mtime_ns == sheet_written
    assert np.array_equal(frames_of(ran_in / "w.gif"), frames_of(elsewhere / "take2.gif"))

    result = invoke("rerender", "../ran_in/w.gif.latentfx.json")  # in place: where it ran
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in elsewhere.iterdir()) == \
        ["take2-sheet.png", "take2.gif", "take2.gif.latentfx.json"]


def test_rerender_names_the_other_outputs_after_the_new_one():
    from pipelines.rerender import _beside

    new, old = Path("out/take2.webm"), Path("w.mp4")
    assert _beside(new, old, Path("w-sheet.png")) == str(Path("out/take2-sheet.png"))
    assert _beside(new, old, Path("contact.png")) == str(Path("out/take2-contact.png"))
    assert _beside(new, old, Path("frames/%05d.png")) == str(Path("out/take2-frames/%05d.png"))


def test_rerender_refuses_a_changed_input(tiny_spatial_model, keyframes, tmp_path):
    key = tmp_path / "key.png"
    key.write_bytes(open(keyframes[1], "rb").read())
    run_walk(tiny_spatial_model, [keyframes[0], key], tmp_path / "w.gif", frames=2)
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(key)
    result = invoke("rerender", tmp_path / "w.gif.latentfx.json")
    assert result.exit_code == 3
    assert "key.png: changed since" in result.output


def test_frames_dir_and_contact_sheet(tiny_spatial_model, keyframes, tmp_path):
    result = run_walk(tiny_spatial_model, keyframes, tmp_path / "w.mp4", frames=5,
                      frames_dir=str(tmp_path / "pngs"), sheet=str(tmp_path / "sheet.png"),
                      sheet_frames=6)
    assert len(read_frames(tmp_path / "pngs" / "%05d.png")) == result.frames == 11
    sheet = Image.open(tmp_path / "sheet.png")
    assert sheet.size == (4 * 32 + 5 * 2, 2 * 32 + 3 * 2)  # 6 frames, four to a row


def test_cancel_stops_between_batches_and_leaves_nothing(tiny_spatial_model, keyframes, tmp_path):
    calls = []

    def cancel():
        calls.append(1)
        return len(calls) > 1

    spec = walk.WalkSpec(keyframes=keyframes, output=str(tmp_path / "w.mp4"),
                         model=str(tiny_spatial_model), device="cpu", frames=8, batch=2)
    with pytest.raises(Interrupted, match="cancelled at frame 2"):
        walk.run(spec, cancel=cancel)
    assert os.listdir(tmp_path) == []


def test_the_default_model_walks_between_the_bundled_samples(tmp_path):
    from latentfx.models.bundled import sample_images

    a, b = sample_images()[:2]
    result = invoke("walk", a, b, "-o", tmp_path / "walk.mp4", "--frames", 3)
    assert result.exit_code == 0, result.output
    info = probe(tmp_path / "walk.mp4")
    assert (info.codec, info.pix_fmt, info.fps) == ("h264", "yuv420p", 24.0)
    assert len(read_frames(tmp_path / "walk.mp4")) == 4


@pytest.mark.parametrize("args, message", [
    (["{a}"], "at least two keyframes"),
    (["{a}", "{tmp}/missing.png"], "missing.png: no such file"),
    (["{a}", "{tmp}/empty.png"], "empty.png: empty file"),
    (["{a}", "{a}", "-o", "{tmp}/w.avi"], "unknown video extension"),
    (["{a}", "{a}", "--duration", "0"], "--duration must be positive"),
    (["{a}", "{a}", "--duration", "-1"], "--duration must be positive"),
    (["{a}", "{a}", "--fps", "0"], "--fps must be positive"),
    (["{a}", "{a}", "-o", "{tmp}/nowhere/w.mp4"], "does not exist"),
    (["{a}", "{a}", "-o", "{tmp}/adir.mp4"], "is a folder"),
    (["{a}", "{a}", "--random"], "--random draws its own keyframes"),
    (["{a}", "{a}", "--crf", "20", "-o", "{tmp}/w.gif"], "--crf applies to"),
])
def test_bad_input_is_named_and_leaves_no_file(tiny_spatial_model, keyframes, tmp_path, args,
                                               message):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "adir.mp4").mkdir()
    before = sorted(os.listdir(tmp_path))
    args = [a.format(a=keyframes[0], tmp=tmp_path) for a in args]
    if "-o" not in args:
        args += ["-o", str(tmp_path / "w.mp4")]
    result = invoke("walk", *args, "-m", tiny_spatial_model, "--device", "cpu")
    assert result.exit_code == 3, result.output
    assert message in result.output
    assert sorted(os.listdir(tmp_path)) == before


def test_spec_validation_names_the_value():
    with pytest.raises(InputError, match="--interp must be one of"):
        walk.WalkSpec(keyframes=["a", "b"], output="w.mp4", interp="cubic").validate()


@pytest.mark.parametrize("pacing, error", [
    ("time", torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")),
    ("uniform", RuntimeError("MPS backend out of memory")),
])
def test_a_batch_that_runs_out_of_memory_is_rendered_in_halves(tiny_spatial_model, keyframes,
                                                               tmp_path, monkeypatch, pacing,
                                                               error):
    from latentfx.walk.rendering import WalkRenderer

    options = dict(frames=6, batch=8, pacing=pacing)  # no holds: a batch decodes all its frames
    plain = run_walk(tiny_spatial_model, keyframes, f"{tmp_path}/plain/", **options)
    frames = WalkRenderer._frames
    decoded = []

    def frames_within_memory(self, segment, u):
        decoded.append(len(segment))
        if len(segment) > 2:
            raise error
        return frames(self, segment, u)

    monkeypatch.setattr(WalkRenderer, "_frames", frames_within_memory)
    halved = run_walk(tiny_spatial_model, keyframes, f"{tmp_path}/halved/", **options)
    # 8 and 4 refused, then 2 for the rest of the loop (the pacing pre-pass is one too).
    assert decoded[:3] == [8, 4, 2]
    assert sum(n > 2 for n in decoded) == {"time": 2, "uniform": 4}[pacing]
    assert halved.frames == plain.frames
    assert np.array_equal(frames_of(f"{tmp_path}/halved/"), frames_of(f"{tmp_path}/plain/"))
    # A farm chunk renders through the same batches.
    spec = walk.WalkSpec(keyframes=keyframes, output=str(tmp_path / "chunk.mp4"),
                         model=str(tiny_spatial_model), device="cpu", **options)
    chunk = {}
    walk.render_frames(walk.prepare(spec.checked()), 3, 11,
                       write=lambda i, pixels: chunk.setdefault(i, pixels))
    assert sorted(chunk) == list(range(3, 11))
    assert np.array_equal(np.stack([chunk[i] for i in range(3, 11)]),
                          frames_of(f"{tmp_path}/plain/")[3:11])


def test_out_of_memory_at_one_frame_a_batch_is_raised(tiny_spatial_model, keyframes, tmp_path,
                                                      monkeypatch):
    from latentfx.walk.rendering import WalkRenderer

    def never_fits(self, segment, u):
        raise RuntimeError("CUDA out of memory")

    monkeypatch.setattr(WalkRenderer, "_frames", never_fits)
    with pytest.raises(RuntimeError, match="out of memory"):
        run_walk(tiny_spatial_model, keyframes, tmp_path / "w.mp4", frames=2, batch=4)
    assert not (tmp_path / "w.mp4").exists()
