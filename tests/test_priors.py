"""Priors (latentfx/priors/): the latent statistics of known posteriors, the Gaussian mixture
fitted to the encoded data, kept in the checkpoint, drawn from by seed, and chosen with
--prior; `fit-prior` for models trained without one; `info` and `train` printing the numbers."""

import json
import math
import re

import pytest
import torch
from click.testing import CliRunner

import cli
from latentfx.errors import InputError
from latentfx.models import build_model
from latentfx.models.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from latentfx.options import default_prior
from latentfx.priors.measurement import encode_posteriors
from latentfx.priors.mixture import GaussianMixturePrior, candidate_counts
from latentfx.priors.statistics import ACTIVE_VARIANCE, latent_statistics
from latentfx.training.data import TrainingImages, scan_training_files


def invoke(*args):
    return CliRunner().invoke(cli.cli, [str(a) for a in args], catch_exceptions=False)


def off_centre_latents(n=4000, seed=0) -> torch.Tensor:
    """(n, 3): two tilted clusters far from the origin, as a weakly regularised VAE's
    encoded data sits."""
    g = torch.Generator().manual_seed(seed)
    base = torch.randn((n, 3), generator=g) * torch.tensor([0.3, 0.1, 0.2])
    tilt = torch.tensor([[1.0, 0.8, 0.0], [0.0, 1.0, 0.0], [0.0, 0.5, 1.0]])
    centres = torch.tensor([[3.0, -2.0, 1.0], [-1.0, 2.5, 2.0]])
    return base @ tilt + centres[torch.arange(n) % 2]


@pytest.fixture(scope="module")
def without_prior(tiny_vector_model, tmp_path_factory):
    """The tiny vector model as a model trained before latentfx fitted priors."""
    model, info = load_checkpoint(tiny_vector_model)
    out = tmp_path_factory.mktemp("old") / "old.safetensors"
    save_checkpoint(out, model, training=info.metadata["training"])
    return out


# -- latent statistics -----------------------------------------------------------------------

def test_statistics_of_known_posteriors():
    g = torch.Generator().manual_seed(0)
    n = 20_000
    mean = torch.randn((n, 4), generator=g) * torch.tensor([1.0, 2.0, 0.5, 0.0]) \
        + torch.tensor([0.0, 1.0, -0.5, 3.0])  # the last dimension never varies
    logvar = torch.full((n, 4), math.log(0.25))
    stats = latent_statistics(mean, logvar)
    assert (stats.images, stats.dims, stats.unit) == (n, 4, "dimension")
    assert stats.mean == pytest.approx([0.0, 1.0, -0.5, 3.0], abs=0.03)
    assert stats.std == pytest.approx([1.0, 2.0, 0.5, 0.0], abs=0.03)
    assert stats.active == 3  # Var(mu) = 0 < ACTIVE_VARIANCE for the constant one
    # KL(N(m, s^2) || N(0, 1)) = (m^2 + s^2 - 1 - log s^2) / 2, averaged over m.
    expected = [0.5 * (mu ** 2 + sd ** 2 + 0.25 - 1 - math.log(0.25))
                for mu, sd in ((0, 1), (1, 2), (-0.5, 0.5), (3, 0))]
    assert stats.kl == pytest.approx(expected, rel=0.03)
    assert stats.mean_length == pytest.approx(
        float(torch.linalg.vector_norm(mean, dim=1).mean()), abs=1e-3)
    d = stats.to_dict()
    assert d["prior_length"] == pytest.approx(2.0) and d["active_threshold"] == ACTIVE_VARIANCE
    assert d["kl_total"] == pytest.approx(sum(stats.kl), abs=1e-3)


def test_standard_normal_means_match_the_prior():
    mean = torch.randn((20_000, 16), generator=torch.Generator().manual_seed(1))
    stats = latent_statistics(mean)
    assert stats.kl is None  # means only, as a store keeps them
    assert max(abs(m) for m in stats.mean) < 0.05 and all(abs(s - 1) < 0.05 for s in stats.std)
    assert stats.length_ratio == pytest.approx(1.0, abs=0.05) and stats.active == 16


def test_spatial_latents_are_summarised_per_channel():
    g = torch.Generator().manual_seed(2)
    mean = torch.randn((50, 2, 6, 8), generator=g) * torch.tensor([1.0, 3.0]).view(1, 2, 1, 1)
    stats = latent_statistics(mean, torch.zeros_like(mean))
    assert (stats.unit, stats.dims, stats.images) == ("channel", 2, 50)
    assert stats.std == pytest.approx([1.0, 3.0], abs=0.1)
    assert stats.mean_length == pytest.approx(
        float(mean.movedim(1, -1).norm(dim=-1).mean()), abs=1e-3)


# -- the fitted mixture ----------------------------------------------------------------------

def test_mixture_sampling_is_a_pure_function_of_the_seed():
    prior = GaussianMixturePrior.fit(off_centre_latents(), components=2)
    draw = lambda seed, **kw: prior.sample(64, generator=torch.Generator().manual_seed(seed), **kw)
    assert torch.equal(draw(5), draw(5)) and not torch.equal(draw(5), draw(6))
    # Temperature scales the noise within the chosen component: T -> 0 gives its mean.
    frozen = draw(5, temperature=0.0)
    assert all(any(torch.allclose(z, m) for m in prior.means) for z in frozen)
    assert not torch.equal(draw(5, temperature=0.5), draw(5))
    # Several draws of each chosen component, in a row (a guided model's candidates): the
    # same components as one draw each, in the same proportions.
    rows = draw(5, temperature=0.0, per_component=3)
    assert rows.shape == (192, 3) and torch.equal(rows[::3], frozen)
    assert torch.equal(rows[1::3], frozen) and torch.equal(rows[2::3], frozen)
    assert not torch.equal(*draw(5, per_component=2)[:2])  # with their own noise


def test_mixture_follows_off_centre_data_where_the_normal_prior_does_not():
    latents = off_centre_latents()
    prior = GaussianMixturePrior.fit(latents)
    assert prior.components >= 2 and prior.images == len(latents)
    g = torch.Generator().manual_seed(0)
    fitted, normal = prior.sample(500, generator=g), torch.randn((500, 3), generator=g)
    nearest = lambda z: torch.cdist(z, latents).min(dim=1).values.mean()
    assert nearest(fitted) < 0.5 * nearest(normal)
    assert prior.log_prob(fitted).mean() > prior.log_prob(normal).mean() + 5


def test_the_mixture_density_is_the_textbook_one():
    from torch.distributions import Categorical, MixtureSameFamily, MultivariateNormal

    prior = GaussianMixturePrior.fit(off_centre_latents())
    z = torch.randn(40, 3) * 2
    reference = MixtureSameFamily(Categorical(probs=prior.weights.double()),
                                  MultivariateNormal(prior.means.double(),
                                                     scale_tril=prior.scale_tril.double()))
    assert torch.allclose(prior.log_prob(z), reference.log_prob(z.double()), atol=1e-9)


def test_a_pull_goes_a_share_of_the_way_to_the_claiming_components_mean():
    prior = GaussianMixturePrior(weights=torch.tensor([0.5, 0.5]),
                                 means=torch.tensor([[0.0, 0.0], [10.0, 0.0]]),
                                 scale_tril=torch.eye(2).expand(2, 2, 2).clone(), images=4)
    z = torch.tensor([[1.0, 2.0], [9.0, -2.0], [5.0, 0.0]])
    pulled = prior.pulled(z, 0.5)
    assert torch.allclose(pulled[:2], torch.tensor([[0.5, 1.0], [9.5, -1.0]]), atol=1e-4)
    assert torch.allclose(pulled[2], z[2])  # claimed equally: the weighted mean is itself
    assert torch.equal(prior.pulled(z, 0.0), z)
    assert pulled.dtype == z.dtype


def test_component_counts_the_data_can_support():
    assert candidate_counts(5) == [1]
    assert candidate_counts(40) == [1, 2, 3]  # 32 fitted after a fifth is held out
    assert max(candidate_counts(10_000)) == 64


def test_the_component_count_is_the_one_held_out_latents_like_best():
    # Five well-separated clusters: fewer components blur them, more only split them.
    g = torch.Generator().manual_seed(1)
    centres = torch.randn((5, 4), generator=g) * 8
    latents = centres.repeat_interleave(200, 0) + torch.randn((1000, 4), generator=g)
    prior = GaussianMixturePrior.fit(latents)
    assert prior.components in (4, 6)  # the candidates are 1, 2, 3, 4, 6, ...
    apart = torch.cdist(prior.means, centres)  # (K, 5)
    # Every cluster has a component, and no component sits between clusters.
    assert (apart.min(dim=0).values < 1.0).all() and (apart.min(dim=1).values < 1.0).all()


def test_the_prior_round_trips_through_a_checkpoint_exactly(tiny_vector_model, tmp_path):
    model, info = load_checkpoint(tiny_vector_model)
    latents = torch.randn((400, 8), generator=torch.Generator().manual_seed(3)) + 2.0
    prior = GaussianMixturePrior.fit(latents, components=3, source="test")
    out = tmp_path / "with-prior.safetensors"
    save_checkpoint(out, model, training=info.metadata["training"], prior=prior)
    loaded, back = load_checkpoint(out)
    for name in ("weights", "means", "scale_tril"):
        assert torch.equal(getattr(loaded.fitted_prior, name), getattr(prior, name))
    assert back.metadata["prior"] == prior.describe()
    assert back.metadata["prior"]["components"] == 3 and back.metadata["prior"]["images"] == 400
    g = lambda: torch.Generator().manual_seed(9)
    # the data prior's draws, settled onto the model's pictures (VectorVAE.settled)
    assert torch.equal(loaded.sample_prior(4, generator=g(), prior="data"),
                       loaded.settled(prior.sample(4, generator=g())))


def test_a_checkpoint_without_a_prior_keeps_its_bytes(tiny_vector_model, tmp_path):
    model, info = load_checkpoint(tiny_vector_model)
    a, b = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    save_checkpoint(a, model, training=info.metadata["training"])
    save_checkpoint(b, model, training=info.metadata["training"], prior=None, latent_stats=None)
    assert a.read_bytes() == b.read_bytes()
    assert "prior" not in read_checkpoint(a).metadata and load_checkpoint(a)[0].fitted_prior is None


# -- training measures and fits --------------------------------------------------------------

def test_training_records_the_statistics_and_fits_a_prior(tiny_vector_model, shapes_folder):
    model, info = load_checkpoint(tiny_vector_model)
    stats = info.metadata["latent_stats"]
    assert (stats["images"], stats["dims"], stats["unit"]) == (48, 8, "dimension")
    assert len(stats["mean"]) == len(stats["std"]) == len(stats["kl"]) == 8
    assert info.metadata["prior"]["source"] == "training images"
    assert info.metadata["prior"]["images"] == 48 and model.fitted_prior.dims == 8
    run = tiny_vector_model.with_name(tiny_vector_model.name.removesuffix(".safetensors") + ".run")
    assert json.loads((run / "latent_stats.json").read_text()) == stats
    assert (run / "samples-data.png").exists()
    # The run checkpoint, which a resumed run continues from, carries no stale prior.
    assert "prior" not in read_checkpoint(run / "checkpoint.safetensors").metadata


def test_data_prior_samples_lie_nearer_the_encoded_training_data(tiny_vector_model,
                                                                 shapes_folder):
    model, _ = load_checkpoint(tiny_vector_model)
    data = TrainingImages(scan_training_files(shapes_folder), size=32, fit="center-crop",
                          mode="none", seed=0)
    means, _ = encode_posteriors(model, len(data), lambda a, b: torch.stack(
        [data.plain(i) for i in range(a, b)]))
    draw = lambda prior: model.sample_prior(300, generator=torch.Generator().manual_seed(0),
                                            prior=prior)
    nearest = lambda z: torch.cdist(z, means).min(dim=1).values.mean()
    assert nearest(draw("data")) < 0.5 * nearest(draw("normal"))
    assert model.fitted_prior.log_prob(draw("data")).mean() > \
        model.fitted_prior.log_prob(draw("normal")).mean()


def test_spatial_training_records_statistics_but_no_prior(tiny_spatial_model):
    model, info = load_checkpoint(tiny_spatial_model)
    assert info.metadata["latent_stats"]["unit"] == "channel"
    assert info.metadata["latent_stats"]["dims"] == 4
    assert "prior" not in info.metadata and model.fitted_prior is None


def test_train_prints_the_latent_space(shapes_folder, tmp_path):
    result = invoke("train", shapes_folder, "-o", tmp_path / "m.safetensors", "--family",
                    "vector", "--size", "32", "--latent", "4", "--widths", "8,16", "--blocks",
                    "1", "--steps", "2", "--batch", "4", "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert "latent space  against the prior N(0, I)" in result.stdout
    assert "sqrt(4) = 2.00" in result.stdout and "active" in result.stdout
    assert "fitted prior  gaussian-mixture of" in result.stdout


# -- choosing the prior ----------------------------------------------------------------------

def test_the_default_prior_is_data_where_the_model_has_one():
    assert default_prior(fitted=True) == "data" and default_prior(fitted=False) == "normal"


def test_sample_records_the_prior_it_drew_from(tiny_vector_model, without_prior, tmp_path):
    def sample(model, *options):
        out = tmp_path / f"s{len(list(tmp_path.iterdir()))}.png"
        result = invoke("sample", "-n", 4, "-o", out, "-m", model, "--device", "cpu", *options)
        assert result.exit_code == 0, result.output
        return json.loads(out.with_name(out.name + ".latentfx.json").read_text())

    assert sample(tiny_vector_model)["spec"]["prior"] == "data"
    assert sample(tiny_vector_model, "--prior", "normal")["spec"]["prior"] == "normal"
    assert sample(without_prior)["spec"]["prior"] == "normal"


def test_prior_data_without_a_fitted_prior_says_what_to_do(without_prior, tmp_path):
    for args in (["sample", "-o", tmp_path / "s.png"],
                 ["walk", "seed:1", "seed:2", "--frames", 2, "-o", tmp_path / "w.gif"],
                 ["mix", "seed:1:0.5", "seed:2:0.5", "-o", tmp_path / "m.png"]):
        result = invoke(*args, "-m", without_prior, "--prior", "data", "--device", "cpu")
        assert result.exit_code == 3, result.output
        assert f"model {without_prior} has no fitted prior" in result.stderr
        assert "latentfx fit-prior" in result.stderr and "--prior normal" in result.stderr


def test_a_seed_stands_for_the_same_latent_in_samples_and_walks(tiny_vector_model, tmp_path):
    from latentfx.walk.keyframes import prior_latent

    model, _ = load_checkpoint(tiny_vector_model)
    for prior in ("data", "normal"):
        z = prior_latent(model, 7, height=32, width=32, prior=prior)
        assert torch.equal(z, model.sample_prior(1, generator=torch.Generator().manual_seed(7),
                                                 prior=prior))
    assert not torch.equal(prior_latent(model, 7, height=32, width=32, prior="data"),
                           prior_latent(model, 7, height=32, width=32, prior="normal"))
    with pytest.raises(InputError, match="no fitted prior"):
        build_model(model.config).sample_prior(1, prior="data")


def test_a_random_walk_records_its_prior_and_rerenders_with_it(tiny_vector_model, tmp_path):
    from latentfx.video.reader import read_frames

    out = tmp_path / "w.gif"
    result = invoke("walk", "--random", "--keys", 2, "--frames", 3, "-m", tiny_vector_model,
                    "--size", "32x32", "--device", "cpu", "-o", out)
    assert result.exit_code == 0, result.output
    manifest = json.loads(out.with_name("w.gif.latentfx.json").read_text())
    assert manifest["spec"]["prior"] == "data"
    assert manifest["spec"]["keyframes"] == ["seed:0", "seed:1"]
    again = invoke("rerender", out.with_name("w.gif.latentfx.json"), "-o", tmp_path / "r.gif")
    assert again.exit_code == 0, again.output
    assert (read_frames(out) == read_frames(tmp_path / "r.gif")).all()
    normal = invoke("walk", "seed:0", "seed:1", "--frames", 3, "-m", tiny_vector_model,
                    "--size", "32x32", "--device", "cpu", "--prior", "normal",
                    "-o", tmp_path / "n.gif")
    assert normal.exit_code == 0, normal.output
    assert not (read_frames(out) == read_frames(tmp_path / "n.gif")).all()


def test_image_walks_read_no_prior(tiny_vector_model, shapes_folder, tmp_path):
    from pipelines.walk import WalkSpec

    keys = [str(shapes_folder / f"shape_{i:06d}.png") for i in (1, 2)]
    # (--morph none, --along line: whether a walk morphs or goes along the data are the other
    # things read from the model file.)
    spec = WalkSpec(keyframes=keys, output=str(tmp_path / "w.gif"), model="missing.safetensors",
                    morph="none", along="line")
    assert spec.resolved().prior is None  # nothing is drawn, so the model file is not read


def test_sampling_a_spatial_model_says_it_is_not_a_generator(tiny_spatial_model, tmp_path):
    result = invoke("sample", "-n", 1, "-o", tmp_path / "s.png", "-m", tiny_spatial_model,
                    "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert "a spatial model is not a generator" in result.stderr
    assert "-m shapes" in result.stderr and "walk" in result.stderr
    assert "is not: its prior draws decode to texture noise" in \
        " ".join(invoke("sample", "--help").stdout.split())


# -- fit-prior and info ----------------------------------------------------------------------

def test_fit_prior_writes_a_new_model_with_the_prior(without_prior, shapes_folder, tmp_path):
    out = tmp_path / "fitted.safetensors"
    result = invoke("fit-prior", without_prior, "--folder", shapes_folder, "-o", out,
                    "--device", "cpu")
    assert result.exit_code == 0, result.output
    old, old_info = load_checkpoint(without_prior)
    new, new_info = load_checkpoint(out)
    assert new_info.model_id != old_info.model_id and new_info.model_id[:16] in result.stdout
    for name, weights in old.state_dict().items():
        assert torch.equal(new.state_dict()[name], weights)
    assert new.fitted_prior is not None and new_info.metadata["prior"]["images"] == 48
    assert new_info.metadata["prior"]["source"] == f"folder {shapes_folder.name}"
    assert new_info.metadata["latent_stats"]["kl"] is not None
    assert new_info.metadata["training"] == old_info.metadata["training"]
    assert "prior" not in read_checkpoint(without_prior).metadata  # the original is untouched


def test_fit_prior_from_a_store(without_prior, shapes_folder, tmp_path):
    store = tmp_path / "s.safetensors"
    assert invoke("encode", shapes_folder, "-o", store, "-m", without_prior, "--device",
                  "cpu", "--workers", 0).exit_code == 0
    out = tmp_path / "fitted.safetensors"
    result = invoke("fit-prior", without_prior, "--store", store, "-o", out, "--components",
                    2, "--device", "cpu")
    assert result.exit_code == 0, result.output
    meta = read_checkpoint(out).metadata
    assert meta["prior"]["components"] == 2 and meta["prior"]["source"] == "store s.safetensors"
    assert meta["latent_stats"]["kl"] is None  # a store keeps means only
    assert re.search(r"\n  kl +not known", result.stdout)


@pytest.mark.parametrize("args, message", [
    (lambda m, t, f: [m, "-o", t / "x.safetensors"], "give the encoded data as --folder"),
    (lambda m, t, f: [m, "--folder", f, "--store", t / "s.safetensors", "-o",
                      t / "x.safetensors"], "one of them"),
    (lambda m, t, f: [m, "--folder", f, "-o", m], "that is the model itself"),
    (lambda m, t, f: [m, "--folder", f, "-o", t / "x.safetensors", "--components", 100],
     "--components 100: more than the 48 encoded images"),
])
def test_fit_prior_refuses(without_prior, shapes_folder, tmp_path, args, message):
    result = invoke("fit-prior", *args(without_prior, tmp_path, shapes_folder), "--device", "cpu")
    assert result.exit_code == 3 and message in result.stderr


def test_fit_prior_refuses_a_spatial_model(tiny_spatial_model, shapes_folder, tmp_path):
    result = invoke("fit-prior", tiny_spatial_model, "--folder", shapes_folder, "-o",
                    tmp_path / "x.safetensors", "--device", "cpu")
    assert result.exit_code == 3 and "a spatial model is not a generator" in result.stderr


def test_info_prints_the_latent_statistics(tiny_vector_model, without_prior):
    result = invoke("info", tiny_vector_model)
    assert result.exit_code == 0, result.output
    for label in ("latent space", "  means", "  spread", "  length", "  active", "  kl",
                  "fitted prior"):
        assert f"\n{label}" in result.stdout, label
    assert "vs sqrt(8) = 2.83" in result.stdout and "fitted to 48 encoded images" in result.stdout
    summary = json.loads(invoke("info", tiny_vector_model, "--json").stdout)
    assert summary["latent_stats"]["dims"] == 8 and summary["prior"]["components"] >= 1
    old = invoke("info", without_prior).stdout
    assert "latent space      not recorded" in old and "fitted prior      none" in old
