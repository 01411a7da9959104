"""Walks along the data (--along data): paths bent toward the fitted prior's density."""

import json

import pytest
import torch
from click.testing import CliRunner

import cli
from latentfx.errors import InputError
from latentfx.priors.mixture import GaussianMixturePrior
from latentfx.walk.data_path import DataPath, bend
from latentfx.walk.interpolation import KeyframePath
from pipelines import walk


def two_modes_and_a_bridge() -> GaussianMixturePrior:
    """Modes at (-2, 0) and (2, 0), with the data between them going round by (0, 2)."""
    means = torch.tensor([[-2.0, 0.0], [2.0, 0.0], [-1.2, 1.6], [1.2, 1.6], [0.0, 2.0]])
    return GaussianMixturePrior(weights=torch.full((5,), 0.2), means=means,
                                scale_tril=0.3 * torch.eye(2).expand(5, 2, 2).clone(), images=5)


def test_the_mixture_density_is_the_textbook_one():
    from torch.distributions import Categorical, MixtureSameFamily, MultivariateNormal

    prior = two_modes_and_a_bridge()
    z = torch.randn(40, 2) * 2
    reference = MixtureSameFamily(Categorical(probs=prior.weights.double()),
                                  MultivariateNormal(prior.means.double(),
                                                     scale_tril=prior.scale_tril.double()))
    assert torch.allclose(prior.log_prob(z), reference.log_prob(z.double()), atol=1e-9)


def test_a_bent_path_goes_round_by_the_data_and_keeps_its_ends():
    prior = two_modes_and_a_bridge()
    straight = KeyframePath(torch.tensor([[-2.0, 0.0], [2.0, 0.0]]), interp="lerp", loop=False)
    path = DataPath(straight, prior)
    u = torch.linspace(0, 1, 41)
    bent = path.at(torch.zeros(41, dtype=torch.long), u)
    line = straight.at(torch.zeros(41, dtype=torch.long), u)
    assert torch.allclose(bent[0], line[0]) and torch.allclose(bent[-1], line[-1])
    assert float(bent[20, 1]) > 0.5  # the middle of the walk is lifted towards the bridge
    assert prior.log_prob(bent).mean() > prior.log_prob(line).mean() + 2
    again = DataPath(straight, prior).at(torch.zeros(41, dtype=torch.long), u)
    assert torch.equal(bent, again)  # deterministic: a farm chunk renders the same frames


def test_without_a_pull_the_path_stays_the_line():
    lines = torch.linspace(0, 1, 9)[None, :, None] * torch.tensor([[[3.0, 1.0]]])
    prior = two_modes_and_a_bridge()
    assert torch.allclose(bend(lines, prior.log_prob, floor=0.0, pull=0.0), lines, atol=1e-3)


def test_a_walk_along_the_data_is_recorded_and_bends_the_frames(tiny_vector_model, tmp_path,
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
    assert abs(frames["data"][1:-1] - frames["line"][1:-1]).mean() > 2  # a bent path between


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
