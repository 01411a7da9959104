"""Morphs (latentfx/walk/correspondence.py, morph.py): correspondence between keyframes is
found and trusted only where it holds, walks between related photographs move their content
(and fall back to the dissolve between unrelated ones), with every timing option, in farm
chunks as locally, in degrees, and never on vector models."""

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import cli
from latentfx.images.loading import image_to_tensor, load_image
from latentfx.images.metrics import psnr
from latentfx.images.resizing import fit_to
from latentfx.models.bundled import sample_images
from latentfx.video.reader import read_frames
from latentfx.walk.correspondence import correspond
from latentfx.walk.morph import Morph
from pipelines import walk

SHIFT = (24, 12)  # B's view of the photograph moved right and down from A's, pixels


def invoke(*args):
    return CliRunner().invoke(cli.cli, [str(a) for a in args], catch_exceptions=False)


def photo(name: str) -> torch.Tensor:
    return image_to_tensor(load_image(next(p for p in sample_images() if p.stem == name)))


def crop(picture: torch.Tensor, x: int, y: int, size=(160, 128)) -> torch.Tensor:
    width, height = size
    return picture[:, y: y + height, x: x + width]


def pan(name="chelsea", steps=2, size=(160, 128)) -> list[torch.Tensor]:
    """Views of a photograph panning by SHIFT from one to the next."""
    picture = photo(name)
    return [crop(picture, 60 + i * SHIFT[0], 40 + i * SHIFT[1], size) for i in range(steps)]


def save(pictures, folder, stem="view"):
    folder.mkdir(exist_ok=True)
    paths = []
    for i, p in enumerate(pictures):
        paths.append(folder / f"{stem}{i}.png")
        Image.fromarray(p.mul(255).round().byte().permute(1, 2, 0).numpy()).save(paths[-1])
    return paths


@pytest.fixture(scope="module")
def views(tmp_path_factory):
    """Three pan views of the cat, the true middle between the first two, and the cup."""
    base = tmp_path_factory.mktemp("morph")
    a, b, c = pan(steps=3)
    middle = crop(photo("chelsea"), 60 + SHIFT[0] // 2, 40 + SHIFT[1] // 2)
    paths = save([a, b, c], base)
    cup = save([crop(photo("coffee"), 100, 100)], base, "cup")[0]
    return base, paths, middle, cup


def test_the_correspondence_of_a_known_shift_is_recovered_both_ways():
    a, b = pan()
    found = correspond(a, b)
    inner = (slice(None), slice(20, -20), slice(30, -30))  # both views see it
    forward = found.forward[inner].flatten(1).median(dim=1).values
    backward = found.backward[inner].flatten(1).median(dim=1).values
    # A(p) ~ B(p + forward(p)): B looks further right and down, so A's pixels sit up-left in it.
    assert forward.tolist() == pytest.approx([-SHIFT[0], -SHIFT[1]], abs=0.5)
    assert backward.tolist() == pytest.approx(list(SHIFT), abs=0.5)
    assert found.agreement > 0.8


def test_unrelated_pictures_get_no_trust_so_nothing_moves():
    found = correspond(crop(photo("chelsea"), 60, 40), crop(photo("coffee"), 100, 100))
    assert found.agreement < 0.3
    assert found.forward.abs().max() == 0 and found.backward.abs().max() == 0


def test_correspondence_is_the_same_whatever_opencv_threads_the_caller_set():
    import cv2

    a, b = pan()
    threads = cv2.getNumThreads()
    try:
        results = []
        for n in (1, 2):
            cv2.setNumThreads(n)
            results.append(correspond(a, b))
    finally:
        cv2.setNumThreads(threads)
    assert torch.equal(results[0].forward, results[1].forward)
    assert torch.equal(results[0].backward, results[1].backward)


def test_moving_pixels_along_the_correspondence_finds_the_true_middle(views):
    _, _, middle, _ = views
    a, b = pan()
    motion = Morph.between(torch.stack([a, b]), frame=a.shape[-2:], loop=False).motion(
        torch.tensor([0, 0, 0]), torch.tensor([0.0, 0.5, 1.0]))
    moved_a, moved_b = motion.align(torch.stack([a] * 3), torch.stack([b] * 3), cell=1.0)
    assert torch.equal(moved_a[0], a) and torch.equal(moved_b[2], b)  # keyframes stay exact
    halfway = (moved_a[1] + moved_b[1]) / 2
    assert psnr(halfway, middle) > psnr((a + b) / 2, middle) + 10


def middle_frame(folder) -> torch.Tensor:
    frames = read_frames(folder / "%05d.png")
    return torch.from_numpy(frames[len(frames) // 2]).permute(2, 0, 1).float() / 255


@pytest.mark.parametrize("residual", [False, True], ids=["plain", "residual"])
def test_a_default_model_walk_between_two_views_moves_instead_of_dissolving(views, tmp_path,
                                                                            residual):
    _, (a, b, _), middle, _ = views
    scores = {}
    for morph in ("none", "flow"):
        result = walk.run(walk.WalkSpec(keyframes=[str(a), str(b)],
                                        output=f"{tmp_path}/{morph}/", frames=2, morph=morph,
                                        residual=residual, device="cpu"))
        scores[morph] = psnr(middle_frame(tmp_path / morph), middle)
        assert result.notes == []
    assert scores["flow"] > scores["none"] + 6


def test_unrelated_keyframes_dissolve_exactly_as_without_morphing_and_say_so(views, tmp_path):
    _, (a, _, _), _, cup = views
    frames = {}
    for morph in ("none", "flow"):
        result = walk.run(walk.WalkSpec(keyframes=[str(a), str(cup)],
                                        output=f"{tmp_path}/{morph}/", frames=3, morph=morph,
                                        residual=True, size=(80, 64), device="cpu"))
        frames[morph] = read_frames(tmp_path / morph / "%05d.png")
    assert np.array_equal(frames["flow"], frames["none"])
    assert len(result.notes) == 1 and "do not correspond" in result.notes[0]


def test_a_looping_held_spline_morph_through_three_views_keeps_every_keyframe(views):
    _, paths, _, _ = views
    spec = walk.WalkSpec(keyframes=[str(p) for p in paths], output="unused.mp4", frames=4,
                         hold=2, loop=True, interp="spline", residual=True, pacing="uniform",
                         size=(80, 64), device="cpu").checked()
    prepared = walk.prepare(spec)
    morph = prepared.frames.renderers[-1].morph
    assert morph.moves.tolist() == [True, True, True]  # the loop's way back, C to A, too
    frames = {}
    walk.render_frames(prepared, 0, prepared.frame_count,
                       write=lambda i, pixels: frames.__setitem__(i, pixels))
    assert len(frames) == 3 * (4 + 2)
    for key, f in zip(prepared.frames.keys, prepared.frames.timeline.keyframe_frames):
        shown = torch.from_numpy(frames[f]).permute(2, 0, 1).float() / 255
        assert psnr(shown, fit_to(key.image, 64, 80, "crop")) >= 40
        assert np.array_equal(frames[f], frames[f + 2])  # held
    steps = [np.abs(frames[i + 1].astype(float) - frames[i]).mean() for i in range(17)]
    moving = [s for s in steps if s > 0]
    assert max(moving) < 3 * min(moving)  # the pacing measured the morph's own frames


def test_compare_shows_crossfade_plain_walk_and_morph(views, tmp_path):
    _, (a, b, _), _, _ = views
    options = dict(keyframes=[str(a), str(b)], frames=2, size=(80, 64), device="cpu")
    walk.run(walk.WalkSpec(output=f"{tmp_path}/three/", compare=True, **options))
    walk.run(walk.WalkSpec(output=f"{tmp_path}/plain/", morph="none", **options))
    walk.run(walk.WalkSpec(output=f"{tmp_path}/morph/", **options))
    three = read_frames(tmp_path / "three" / "%05d.png")
    width = three.shape[2] // 3
    assert three.shape[2] == 3 * 80
    assert np.array_equal(three[:, :, width: 2 * width], read_frames(tmp_path / "plain" / "%05d.png"))
    assert np.array_equal(three[:, :, 2 * width:], read_frames(tmp_path / "morph" / "%05d.png"))


def test_a_morphing_walk_in_chunks_equals_the_local_run(views, tiny_spatial_model, tmp_path):
    from test_chunks import render_in_chunks

    _, paths, _, _ = views
    options = dict(keyframes=[str(p) for p in paths], model=str(tiny_spatial_model),
                   device="cpu", frames=5, hold=1, residual=True, size=(64, 48))
    local = walk.run(walk.WalkSpec(output=str(tmp_path / "local.mp4"), **options))
    spec = walk.WalkSpec(output=str(tmp_path / "chunked.mp4"), **options).checked()
    assert spec.morph == "flow"
    assert walk.prepare(spec).frames.renderers[-1].morph.moves.all()
    render_in_chunks(walk, spec, tmp_path / "frames", chunk_frames=3)
    assert np.array_equal(read_frames(tmp_path / "chunked.mp4"), read_frames(tmp_path / "local.mp4"))
    assert local.notes == []


def test_vector_models_do_not_morph_and_refuse_to_be_asked(views, tiny_vector_model, tmp_path):
    _, (a, b, _), _, _ = views
    result = invoke("walk", a, b, "-o", tmp_path / "w.mp4", "--frames", 2, "-m",
                    tiny_vector_model, "--device", "cpu")
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "w.mp4.latentfx.json").read_text())
    assert manifest["spec"]["morph"] == "none"
    result = invoke("walk", a, b, "-o", tmp_path / "v.mp4", "--morph", "flow", "-m",
                    tiny_vector_model, "--device", "cpu")
    assert result.exit_code == 3 and "vector model" in result.output
    assert not (tmp_path / "v.mp4").exists()


def test_a_crossfade_cannot_be_asked_to_morph(views, tmp_path):
    _, (a, b, _), _, _ = views
    result = invoke("walk", a, b, "-o", tmp_path / "w.mp4", "--space", "pixel", "--morph",
                    "flow")
    assert result.exit_code == 3 and "--morph flow" in result.output


def test_a_manifest_from_before_morphs_rerenders_without(views, tmp_path):
    from pipelines import rerender

    _, (a, b, _), _, _ = views
    walk.run(walk.WalkSpec(keyframes=[str(a), str(b)], output=str(tmp_path / "w.mp4"),
                           frames=2, morph="none", device="cpu"))
    manifest = tmp_path / "w.mp4.latentfx.json"
    record = json.loads(manifest.read_text())
    del record["spec"]["morph"]
    manifest.write_text(json.dumps(record))
    _, spec = rerender.load(manifest)
    assert spec.morph == "none" and spec.checked().morph == "none"
