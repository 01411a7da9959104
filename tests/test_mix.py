"""`latentfx mix`: a*z1 + b*z2 + c*z3 with a + b + c = 1."""

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import cli
from latentfx.errors import InputError
from latentfx.images.loading import image_to_tensor, load_image
from latentfx.models.loading import load_model
from latentfx.walk.rendering import to_uint8_frames
from pipelines import mix


def invoke(*args):
    return CliRunner().invoke(cli.cli, [str(a) for a in args], catch_exceptions=False)


def reconstruction(model_path, path):
    model, _ = load_model(str(model_path), device="cpu")
    return to_uint8_frames(model.reconstruct(image_to_tensor(load_image(path))[None]))[0]


def test_weight_one_reproduces_a_keyframe_and_halves_mix(tiny_spatial_model, shapes_folder,
                                                         tmp_path):
    a, b = shapes_folder / "shape_000001.png", shapes_folder / "shape_000002.png"
    result = invoke("mix", f"{a}:1", f"{b}:0", "-o", tmp_path / "m.png", "-m",
                    tiny_spatial_model, "--device", "cpu")
    assert result.exit_code == 0, result.output
    out = np.asarray(Image.open(tmp_path / "m.png"))
    assert np.abs(out.astype(int) - reconstruction(tiny_spatial_model, a)).max() <= 1
    half = invoke("mix", f"{a}:1", f"{b}:1", "--normalize", "-o", tmp_path / "h.png", "-m",
                  tiny_spatial_model, "--device", "cpu")
    assert "weights: 0.5, 0.5" in half.output


def test_the_triangle_has_the_three_inputs_at_its_corners(tiny_spatial_model, shapes_folder,
                                                          tmp_path):
    keys = [shapes_folder / f"shape_{i:06d}.png" for i in (1, 2, 3)]
    mix.run(mix.MixSpec(inputs=[str(k) for k in keys], output=str(tmp_path / "t.png"),
                        triangle=4, model=str(tiny_spatial_model), device="cpu"))
    grid = np.asarray(Image.open(tmp_path / "t.png"))
    assert grid.shape == (4 * 32 + 5 * 2, 4 * 32 + 5 * 2, 3)

    def cell(row, col):
        y, x = 2 + row * 34, 2 + col * 34
        return grid[y: y + 32, x: x + 32].astype(int)

    for (row, col), key in zip(((0, 0), (3, 0), (3, 3)), keys):
        assert np.abs(cell(row, col) - reconstruction(tiny_spatial_model, key)).max() <= 1
    assert (cell(0, 3) == 255).all()  # outside the triangle
    for _, _, weights in mix.triangle_weights(6):
        assert sum(weights) == pytest.approx(1) and min(weights) >= -1e-9


@pytest.mark.parametrize("inputs, message", [
    (["a.png:0.5", "b.png:0.6"], "sum to 1.1, not 1"),
    (["a.png:x", "b.png:1"], "KEYFRAME:WEIGHT"),
    (["a.png:1"], "two or more inputs"),
])
def test_bad_weights_are_refused(inputs, message, tmp_path):
    with pytest.raises(InputError, match=message):
        mix.MixSpec(inputs=inputs, output=str(tmp_path / "m.png")).validate()


def test_a_sample_cell_is_the_seed_keyframe_of_the_same_number(tiny_vector_model, tmp_path):
    """`sample --seed 10` cell 2 is `seed:12`, so a user can pick a cell and walk to it."""
    sample = invoke("sample", "-n", 4, "--seed", 10, "-o", tmp_path / "s.png", "-m",
                    tiny_vector_model, "--device", "cpu")
    assert sample.exit_code == 0, sample.output
    mixed = invoke("mix", "seed:12:1", "seed:3:0", "--size", "32x32", "-o", tmp_path / "m.png",
                   "-m", tiny_vector_model, "--device", "cpu")
    assert mixed.exit_code == 0, mixed.output
    grid = np.asarray(Image.open(tmp_path / "s.png")).astype(int)
    cell = grid[2 + 34: 2 + 34 + 32, 2: 2 + 32]  # two to a row: seed:12 starts row 1
    assert np.abs(cell - np.asarray(Image.open(tmp_path / "m.png")).astype(int)).max() <= 1


def test_inputs_without_weights_mix_equally(tiny_vector_model, shapes_folder, tmp_path):
    a, b = shapes_folder / "shape_000001.png", shapes_folder / "shape_000002.png"
    plain = invoke("mix", a, b, "-o", tmp_path / "p.png", "-m", tiny_vector_model,
                   "--device", "cpu")
    assert plain.exit_code == 0, plain.output
    assert "weights: 0.5, 0.5" in plain.output
    halves = invoke("mix", f"{a}:0.5", f"{b}:0.5", "-o", tmp_path / "h.png", "-m",
                    tiny_vector_model, "--device", "cpu")
    assert halves.exit_code == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "p.png")),
                          np.asarray(Image.open(tmp_path / "h.png")))


def test_weights_are_all_or_none_and_a_bare_seed_is_a_keyframe(tmp_path):
    def parsed(*inputs):
        return mix.MixSpec(inputs=list(inputs), output=str(tmp_path / "m.png")).parsed()

    assert parsed("seed:1", "seed:-2", "a.png") == (["seed:1", "seed:-2", "a.png"],
                                                    [1 / 3] * 3)
    assert parsed("seed:1:0.25", "s.safetensors:x/y.jpg:0.75") == (
        ["seed:1", "s.safetensors:x/y.jpg"], [0.25, 0.75])
    assert parsed("s.safetensors:x/y.jpg", "b.png") == (["s.safetensors:x/y.jpg", "b.png"],
                                                        [0.5, 0.5])
    with pytest.raises(InputError, match="'b.png' has no weight but other inputs do"):
        parsed("a.png:1", "b.png")


def test_an_analogy_is_c_plus_b_minus_a(tiny_vector_model, shapes_folder, tmp_path):
    """mix c:1 b:1 a:-1 (weights summing to 1, one negative) decodes z_c + (z_b - z_a)."""
    a, b, c = (shapes_folder / f"shape_{i:06d}.png" for i in (1, 2, 3))
    result = invoke("mix", f"{c}:1", f"{b}:1", f"{a}:-1", "-o", tmp_path / "an.png", "-m",
                    tiny_vector_model, "--device", "cpu", "--size", "32x32")
    assert result.exit_code == 0, result.output
    assert "weights: 1, 1, -1" in result.output
    model, _ = load_model(str(tiny_vector_model), device="cpu")
    with torch.no_grad():
        za, zb, zc = (model.encode(image_to_tensor(load_image(p))[None]).mode()
                      for p in (a, b, c))
        expected = to_uint8_frames(model.decode(zc + zb - za))[0]
    out = np.asarray(Image.open(tmp_path / "an.png")).astype(int)
    assert np.abs(out - expected).max() <= 1
    # a is to b as a is to ... b.
    same = invoke("mix", f"{a}:1", f"{b}:1", f"{a}:-1", "-o", tmp_path / "b.png", "-m",
                  tiny_vector_model, "--device", "cpu", "--size", "32x32")
    assert same.exit_code == 0
    assert np.abs(np.asarray(Image.open(tmp_path / "b.png")).astype(int)
                  - reconstruction(tiny_vector_model, b)).max() <= 1
