"""Walks along the data (--along data): every frame settled onto the model's pictures."""

import json

import pytest
import torch
from click.testing import CliRunner

import cli
from latentfx.errors import InputError
from latentfx.models.loading import load_model
from latentfx.walk.data_path import DataPath
from latentfx.walk.interpolation import KeyframePath
from pipelines import walk


def round_trip_gap(model, z):
    """How far each latent is from the posterior mean of its own picture: 0 on the manifold."""
    with torch.no_grad():
        return (model.encode(model.decode(z)).mode() - z).norm(dim=1)


@pytest.fixture(scope="module")
def vector_and_keys(tiny_vector_model, shapes_folder):
    from latentfx.images.loading import image_to_tensor, load_image

    model, _ = load_model(str(tiny_vector_model), device="cpu")
    images = torch.stack([image_to_tensor(load_image(shapes_folder / f"shape_{i:06d}.png"))
                          for i in (0, 5, 9)])
    with torch.no_grad():
        return model, model.encode(images).mode()


def test_settling_carries_latents_onto_the_round_trip(vector_and_keys):
    model, keys = vector_and_keys
    line = KeyframePath(keys, interp="slerp", loop=False)
    u = torch.linspace(0.2, 0.8, 7).repeat(2)
    z = line.at(torch.arange(2).repeat_interleave(7), u)
    settled = model.settled(z)
    assert round_trip_gap(model, settled).mean() < 0.5 * round_trip_gap(model, z).mean()
    assert torch.equal(model.settled(z, rounds=0), z)
    # In batches of any size: a farm chunk's frames are the frames of the whole walk.
    assert torch.allclose(torch.cat([model.settled(part) for part in z.split(3)]), settled,
                          atol=1e-5)


def test_a_walk_along_the_data_keeps_its_keyframes_and_settles_between(vector_and_keys):
    model, keys = vector_and_keys
    line = KeyframePath(keys, interp="slerp", loop=False)
    path = DataPath(line, model)
    segment, u = torch.tensor([0, 0, 1, 1, 0]), torch.tensor([0.0, 1.0, 0.0, 1.0, 0.5])
    along = path.at(segment, u)
    assert torch.allclose(along[:4], keys[[0, 1, 1, 2]], atol=1e-5)  # exactly on the keys
    # between them: nearer the round trip's fixed points than the line is
    middle = line.at(segment[4:], u[4:])
    assert round_trip_gap(model, along[4:]) < round_trip_gap(model, middle)
    assert torch.equal(DataPath(line, model).at(segment, u), along)  # deterministic


def test_without_a_fitted_prior_a_walk_along_the_data_only_settles(vector_and_keys,
                                                                   monkeypatch):
    model, keys = vector_and_keys
    assert model.fitted_prior is not None
    line = KeyframePath(keys, interp="slerp", loop=False)
    segment, u = torch.tensor([0, 1, 1]), torch.tensor([0.0, 0.5, 1.0])
    pulled = DataPath(line, model).at(segment, u)
    monkeypatch.setattr(model, "fitted_prior", None)
    plain = DataPath(line, model).at(segment, u)
    assert torch.allclose(plain[[0, 2]], pulled[[0, 2]], atol=1e-5)  # keyframes either way
    assert torch.allclose(plain[1], model.settled(line.at(segment[1:2], u[1:2]))[0])
    assert not torch.allclose(plain[1], pulled[1], atol=1e-3)  # the pull moved the middle


def test_a_walk_along_the_data_is_recorded_and_settles_the_frames(tiny_vector_model, tmp_path,
                                                                shapes_folder):
    from latentfx.video.reader import read_frames

    keys = [str(shapes_folder / f"shape_{i:06d}.png") for i in (0, 5)]
    frames = {}
    for along in ("data", "line"):
        out = tmp_path / f"{along}.mp4"
        args = ["walk", *keys, "-o", str(out), "-m", str(tiny_vector_model), "--frames", "6",
                "--device", "cpu"] + (["--along", "line"] if along == "line" else [])
        result = CliRunner().invoke(cli.cli, args, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        manifest = json.loads((tmp_path / f"{along}.mp4.latentfx.json").read_text())
        assert manifest["spec"]["along"] == along  # along the data by default
        frames[along] = read_frames(out).astype(float)
    ends = [0, -1]
    assert abs(frames["data"][ends] - frames["line"][ends]).mean() < 2  # the same keyframes
    assert abs(frames["data"][1:-1] - frames["line"][1:-1]).mean() > 2  # settled frames between


def test_along_data_needs_a_model_with_a_fitted_prior(tiny_spatial_model, tmp_path,
                                                      shapes_folder):
    keys = [str(shapes_folder / f"shape_{i:06d}.png") for i in (0, 5)]
    spec = walk.WalkSpec(keyframes=keys, output=str(tmp_path / "w.mp4"),
                         model=str(tiny_spatial_model), along="data", device="cpu")
    with pytest.raises(InputError, match="--along data: model .*tiny-spatial"):
        walk.run(spec)
    assert walk.WalkSpec(keyframes=keys, output=str(tmp_path / "w.mp4"),
                         model=str(tiny_spatial_model), device="cpu").resolved().along == "line"


def test_a_manifest_from_before_along_rerenders_on_the_line():
    spec = walk.WalkSpec.from_dict({"keyframes": ["a.png", "b.png"], "output": "w.mp4"})
    assert spec.along == "line"


def test_each_pull_moves_the_middle_and_a_manifest_keeps_its_count():
    from latentfx.datasets.shapes import factors_for, render
    from latentfx.images.loading import image_to_tensor
    from latentfx.options import DATA_PULLS

    # the bundled shapes model: the tiny one settles to where a second pull changes nothing
    model, _ = load_model("shapes", device="cpu")
    images = torch.stack([image_to_tensor(render(factors_for(i, seed=5), size=64))
                          for i in range(3)])
    with torch.no_grad():
        keys = model.encode(images).mode()
    line = KeyframePath(keys, interp="slerp", loop=False)
    segment = torch.tensor([0, 1]).repeat_interleave(5)
    u = torch.tensor([0.0, 0.3, 0.5, 0.7, 1.0]).repeat(2)
    once, twice = (DataPath(line, model, pulls=n).at(segment, u) for n in (1, 2))
    ends = torch.tensor([0, 4, 5, 9])
    assert torch.allclose(once[ends], twice[ends], atol=1e-5)  # keyframes either way
    assert not torch.allclose(once, twice, atol=1e-3)  # the second pull moves frames between
    assert torch.equal(DataPath(line, model).at(segment, u), twice)  # DATA_PULLS is 2
    assert DATA_PULLS == 2
    # a walk written before pulls were counted went along the data pulling once
    old = walk.WalkSpec.from_dict({"keyframes": ["a.png", "b.png"], "output": "w.mp4",
                                   "along": "data"})
    assert old.pulls == 1
    assert walk.WalkSpec(keyframes=["a.png", "b.png"], output="w.mp4").pulls == DATA_PULLS
    for bad in (-1, 2.5, "2", True):
        with pytest.raises(InputError, match="pulls must be a whole number, 0 or more"):
            walk.WalkSpec(keyframes=["a.png", "b.png"], output="w.mp4", pulls=bad).validate()


def test_a_walk_spec_renders_with_its_own_pull_count(tmp_path):
    from latentfx.datasets.shapes import factors_for, render

    keys = []
    for i in range(2):
        keys.append(str(tmp_path / f"k{i}.png"))
        render(factors_for(i, seed=5), size=64).save(keys[-1])
    frames = {}
    for pulls in (1, 2):
        spec = walk.WalkSpec(keyframes=keys, output=str(tmp_path / "w.mp4"), model="shapes",
                             frames=5, pulls=pulls, device="cpu").checked().resolved()
        assert spec.along == "data" and spec.pulls == pulls
        frames[pulls] = torch.cat([f for _, f in walk.frame_batches(walk.prepare(spec))])
    assert torch.allclose(frames[1][[0, -1]], frames[2][[0, -1]], atol=1e-4)  # the keyframes
    assert not torch.allclose(frames[1][1:-1], frames[2][1:-1], atol=1e-3)  # what lies between
