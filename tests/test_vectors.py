"""Attribute vectors on the bundled shapes model, where every image's factors are known."""

import shutil

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import cli
from conftest import labelled_shapes_store
from latentfx.errors import InputError
from latentfx.latents.attribute_vectors import (AttributeVector, centroid_difference,
                                                holdout_split)
from latentfx.latents.stores import LatentStore
from pipelines import apply, vector


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    base = tmp_path_factory.mktemp("vec")
    return base, labelled_shapes_store(base, 300, seed=11)


def make_vector(base, attr):
    out = base / f"{attr}.safetensors"
    result = vector.run(vector.VectorSpec(output=str(out), store=str(base / "s.safetensors"),
                                          attr=attr))
    return out, result


def test_a_captured_attribute_scores_high_on_held_out_images(labelled):
    base, _ = labelled
    out, result = make_vector(base, "background_dark")
    assert result.score["auc"] >= 0.95
    saved = AttributeVector.load(out)
    assert saved.score == result.score and saved.vector.shape == (16,)


def foreground(path):
    a = np.asarray(Image.open(path).convert("RGB")).astype(float)
    mask = np.abs(a - np.median(a.reshape(-1, 3), axis=0)).sum(-1) > 60
    return a[mask], mask.mean()


def test_the_red_vector_makes_blue_shapes_redder(labelled, tmp_path):
    """From blue to red: the vector from the blue shapes' centroid to the red ones'
    (--against colour_blue). Red against every other colour is the weaker edit here: colour
    takes a small share of the model's latent variance, and from a blue shape that vector
    points as much away from the other colours as towards red (README, attribute vectors)."""
    base, rows = labelled
    red = tmp_path / "red.safetensors"
    result = vector.run(vector.VectorSpec(output=str(red), store=str(base / "s.safetensors"),
                                          attr="colour_red", against="colour_blue"))
    colours = [r["colour"] for r in rows]
    assert result.counts["with"] + result.counts["without"] == \
        colours.count("red") + colours.count("blue")
    blues = [r["path"] for r in rows if r["colour"] == "blue"][:6]
    gain = []
    for name in blues:
        outs = []
        for strength in (0.0, 2.0):
            out = tmp_path / f"{strength}-{name}"
            apply.run(apply.ApplySpec(image=str(base / "img" / name), output=str(out),
                                      vectors=[(str(red), strength)], model="shapes",
                                      device="cpu", size=(64, 64)))
            outs.append(foreground(out))
        (before, _), (after, _) = outs
        gain.append((after[:, 0] - after[:, 2]).mean() - (before[:, 0] - before[:, 2]).mean())
    assert np.mean(gain) > 40  # red minus blue, in 8-bit levels, over the shape


def test_against_needs_another_label_of_the_store(labelled, tmp_path):
    base, _ = labelled
    spec = lambda **kw: vector.VectorSpec(output=str(tmp_path / "v.safetensors"), **kw)
    with pytest.raises(InputError, match="another label"):
        spec(store=str(base / "s.safetensors"), attr="colour_red", against="colour_red").validate()
    with pytest.raises(InputError, match="needs a labelled store"):
        spec(with_dir=str(base), without_dir=str(base), against="colour_blue").validate()
    with pytest.raises(InputError, match="not a label of"):
        vector.run(spec(store=str(base / "s.safetensors"), attr="colour_red", against="mauve"))


def test_against_and_balance_hold_the_same_images(labelled, tmp_path):
    # --balance labels are taken for exactly the images --against keeps (red and blue ones).
    from latentfx.latents.attribute_vectors import balanced_centroid_difference
    from latentfx.latents.stores import LatentStore

    base, _ = labelled
    out = tmp_path / "v.safetensors"
    vector.run(vector.VectorSpec(output=str(out), store=str(base / "s.safetensors"),
                                 attr="colour_red", against="colour_blue",
                                 balance=("background_dark",)))
    store = LatentStore.load(base / "s.safetensors")
    column = lambda n: store.labels[:, store.attributes.index(n)] > 0.5
    keep = column("colour_red") | column("colour_blue")
    z, has, dark = store.latents[keep], column("colour_red")[keep], column("background_dark")[keep]
    train, _ = holdout_split(len(z), 0.2, 0)
    expected = balanced_centroid_difference(z[train], has[train], dark[train, None])
    assert torch.allclose(AttributeVector.load(out).vector, expected)


def test_vectors_from_two_folders_and_the_model_check(labelled, tmp_path):
    base, rows = labelled
    for folder, colour in (("red", "red"), ("other", "green")):
        (tmp_path / folder).mkdir()
        for r in [r for r in rows if r["colour"] == colour][:20]:
            shutil.copy(base / "img" / r["path"], tmp_path / folder / r["path"])
    result = CliRunner().invoke(cli.cli, [
        "vector", "--with", str(tmp_path / "red"), "--without", str(tmp_path / "other"),
        "-m", "shapes", "-o", str(tmp_path / "r.safetensors"), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "held-out separation: AUC" in result.output and "20 with / 20 without" in result.output
    with pytest.raises(InputError, match="vectors only apply to their own model"):
        apply.run(apply.ApplySpec(image=str(base / "img" / rows[0]["path"]),
                                  output=str(tmp_path / "x.png"), model="default",
                                  vectors=[(str(tmp_path / "r.safetensors"), 1.0)]))


@pytest.mark.parametrize("kwargs, message", [
    ({}, "give --store and --attr"),
    ({"store": "s.safetensors"}, "go together"),
    ({"store": "s", "attr": "a", "with_dir": "w", "without_dir": "x"}, "one pair"),
    ({"with_dir": "w", "without_dir": "x", "holdout": 0.95}, "--holdout"),
])
def test_bad_vector_specs_are_named(kwargs, message, tmp_path):
    with pytest.raises(InputError, match=message):
        vector.VectorSpec(output=str(tmp_path / "v.safetensors"), **kwargs).validate()


def test_an_unknown_attribute_lists_the_known_ones(labelled, tmp_path):
    base, _ = labelled
    with pytest.raises(InputError, match="no attribute 'smiling'; it has .*colour_red"):
        vector.run(vector.VectorSpec(output=str(tmp_path / "v.safetensors"),
                                     store=str(base / "s.safetensors"), attr="smiling"))


def test_a_sweep_renders_a_strip_or_a_video(labelled, tmp_path):
    from latentfx.video.reader import read_frames

    base, rows = labelled
    dark, _ = make_vector(base, "background_dark")
    image = str(base / "img" / rows[0]["path"])
    runner = CliRunner()
    strip = runner.invoke(cli.cli, ["apply", str(dark), image, "-m", "shapes", "--sweep", "-2:2",
                                    "--grid", "5", "--size", "64x64", "-o",
                                    str(tmp_path / "s.png"), "--device", "cpu"])
    assert strip.exit_code == 0, strip.output
    # A contact sheet: 4 px gutters, each picture at its own size over a 14 px caption.
    assert Image.open(tmp_path / "s.png").size == (5 * 68 + 4, 4 + 64 + 14 + 4)
    plain = runner.invoke(cli.cli, ["apply", str(dark), image, "-m", "shapes", "--strength", "0",
                                    "--size", "64x64", "-o", str(tmp_path / "0.png"),
                                    "--device", "cpu"])
    assert plain.exit_code == 0
    sheet = np.asarray(Image.open(tmp_path / "s.png")).astype(int)
    middle = sheet[4:68, 4 + 2 * 68: 4 + 2 * 68 + 64]
    assert np.abs(middle - np.asarray(Image.open(tmp_path / "0.png"))).max() <= 1
    # Each picture carries its strength (-2, -1, +0, +1, +2) as a caption: ink, all different.
    captions = [sheet[68:82, 4 + i * 68: 4 + i * 68 + 64] for i in range(5)]
    assert all(c.min() < 128 for c in captions)
    assert len({c.tobytes() for c in captions}) == 5
    video = runner.invoke(cli.cli, ["apply", str(dark), image, "-m", "shapes", "--sweep", "-1:1",
                                    "--frames", "12", "-o", str(tmp_path / "s.webm"),
                                    "--device", "cpu"])
    assert video.exit_code == 0, video.output
    frames = read_frames(tmp_path / "s.webm")
    assert frames.shape == (12, 256, 256, 3)
    # background_dark from -1 to 1: the background gets darker along the video.
    assert frames[-1][:8, :8].mean() < frames[0][:8, :8].mean() - 20


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_a_map_has_a_picture_and_a_page_with_every_file(labelled, tmp_path, method):
    from pipelines import map as space_map

    base, rows = labelled
    result = space_map.run(space_map.MapSpec(store=str(base / "s.safetensors"),
                                             output=str(tmp_path / "m.png"), method=method,
                                             color_by="background_dark", thumbs=30))
    assert Image.open(tmp_path / "m.png").size[0] > 500
    page = (tmp_path / "m.html").read_text()
    assert result.points == 300 and page.count("data:image/jpeg;base64,") == 300
    assert all(f'title="{r["path"]}"' in page for r in rows)
    if method == "pca":
        assert 0 < sum(result.explained) <= 1
    with pytest.raises(InputError, match="--color-by 'smiling'"):
        space_map.run(space_map.MapSpec(store=str(base / "s.safetensors"),
                                        output=str(tmp_path / "x.png"), color_by="smiling"))


def test_balancing_stops_a_correlated_attribute_riding_along(labelled, tmp_path):
    """A collection where red shapes sit mostly on dark backgrounds: the plain red vector
    also darkens the background; the vector balanced on background_dark much less so."""
    from latentfx.latents.stores import LatentStore

    base, _ = labelled
    store = LatentStore.load(base / "s.safetensors")
    red = store.labels[:, store.attributes.index("colour_red")] > 0.5
    dark = store.labels[:, store.attributes.index("background_dark")] > 0.5
    keep = [i for i in range(len(store)) if (red[i] == dark[i]) or i % 5 == 0]  # correlated
    biased = LatentStore(latents=store.latents[keep], paths=[store.paths[i] for i in keep],
                         hashes=[store.hashes[i] for i in keep], model_id=store.model_id,
                         size=store.size, fit=store.fit, attributes=store.attributes,
                         labels=store.labels[keep], folder=store.folder)
    biased.save(tmp_path / "biased.safetensors")
    result = CliRunner().invoke(cli.cli, [
        "vector", "--store", str(tmp_path / "biased.safetensors"), "--attr", "colour_red",
        "--balance", "background_dark", "-o", str(tmp_path / "red.safetensors")])
    assert result.exit_code == 0, result.output
    moved = AttributeVector.load(tmp_path / "red.safetensors").score["drift"]["background_dark"]
    assert "background_dark moves" in result.output
    assert moved["unbalanced"] > 0.5
    assert abs(moved["balanced"]) < 0.5 * moved["unbalanced"]


def test_several_vectors_with_their_own_strengths(labelled, tmp_path, monkeypatch):
    base, rows = labelled
    dark, _ = make_vector(base, "background_dark")
    red, _ = make_vector(base, "colour_red")
    (tmp_path / "dark.vec.safetensors").write_bytes(dark.read_bytes())
    monkeypatch.chdir(tmp_path)
    image = str(base / "img" / rows[1]["path"])
    runner = CliRunner()
    both = runner.invoke(cli.cli, ["apply", image, "-m", "shapes", "--vec", "dark:1",
                                   "--vec", f"{red}:0", "-o", "both.png"])
    assert both.exit_code == 0, both.output
    one = runner.invoke(cli.cli, ["apply", str(dark), image, "-m", "shapes", "-o", "one.png"])
    assert one.exit_code == 0
    assert np.array_equal(np.asarray(Image.open("both.png")), np.asarray(Image.open("one.png")))
    bad = runner.invoke(cli.cli, ["apply", image, "-m", "shapes", "--vec", "dark:x", "-o", "x.png"])
    assert bad.exit_code == 2 and "FILE:STRENGTH" in bad.output


def test_vectors_from_folders_load_the_model_once_and_write_one_manifest(labelled, tmp_path,
                                                                         monkeypatch):
    import latentfx.io.manifests
    import latentfx.models.loading

    base, rows = labelled
    for folder, colour in (("red", "red"), ("other", "green")):
        (tmp_path / folder).mkdir()
        for r in [r for r in rows if r["colour"] == colour][:6]:
            shutil.copy(base / "img" / r["path"], tmp_path / folder / r["path"])
    loads, manifests = [], []
    load_model, write_manifest = (latentfx.models.loading.load_model,
                                  latentfx.io.manifests.write_manifest)
    monkeypatch.setattr(latentfx.models.loading, "load_model",
                        lambda *a, **k: loads.append(a) or load_model(*a, **k))
    monkeypatch.setattr(latentfx.io.manifests, "write_manifest",
                        lambda output, *, job, **f: manifests.append(job) or
                        write_manifest(output, job=job, **f))
    result = vector.run(vector.VectorSpec(output=str(tmp_path / "r.safetensors"),
                                          with_dir=str(tmp_path / "red"),
                                          without_dir=str(tmp_path / "other"), model="shapes",
                                          device="cpu"))
    assert len(loads) == 1 and manifests == ["vector"]
    assert result.counts["with"] == 6 and result.counts["without"] == 6
    # The folders' latents are the ones `latentfx encode` put in the store (another batch
    # size there: equal to float rounding).
    store = LatentStore.load(base / "s.safetensors")
    picked = [sorted(p.name for p in (tmp_path / folder).iterdir()) for folder in ("red", "other")]
    latents = store.latents[[store.index(name) for names in picked for name in names]]
    has = torch.arange(12) < 6
    train, _ = holdout_split(12, 0.2, 0)
    expected = centroid_difference(latents[train], has[train])
    made = AttributeVector.load(tmp_path / "r.safetensors").vector
    assert torch.allclose(made, expected, atol=1e-5)


def test_a_vector_is_found_with_or_without_its_suffix(tmp_path, monkeypatch):
    from latentfx.latents.vector_files import vector_file

    monkeypatch.chdir(tmp_path)
    for name in ("red.safetensors", "red.vec.safetensors", "blue.vec.safetensors", "green"):
        (tmp_path / name).write_bytes(b"")
    assert vector_file("red") == "red.safetensors"  # the first that exists
    assert vector_file("blue") == "blue.vec.safetensors"
    assert vector_file("green") == "green"
    assert vector_file("red.vec.safetensors") == "red.vec.safetensors"
    with pytest.raises(InputError, match=r"tried grey, grey.safetensors, "
                                         r"grey.vec.safetensors"):
        vector_file("grey")


def test_apply_finds_vectors_named_as_the_readme_writes_them(labelled, tmp_path, monkeypatch):
    """`vector -o red.safetensors` then `apply --vec red:2` (or `apply red IMG`)."""
    base, rows = labelled
    dark, _ = make_vector(base, "background_dark")
    shutil.copy(dark, tmp_path / "dark.safetensors")
    monkeypatch.chdir(tmp_path)
    image = str(base / "img" / rows[2]["path"])
    runner = CliRunner()
    for args in (["--vec", "dark:2"], ["dark", "--strength", "2"]):
        result = runner.invoke(cli.cli, ["apply", *args, image, "-m", "shapes", "--size", "64",
                                         "-o", f"{args[0]}.png", "--device", "cpu"])
        assert result.exit_code == 0, result.output
    assert np.array_equal(np.asarray(Image.open("--vec.png")), np.asarray(Image.open("dark.png")))
    missing = runner.invoke(cli.cli, ["apply", "--vec", "grey:1", image, "-m", "shapes",
                                      "-o", "g.png"])
    assert missing.exit_code == 3
    assert "tried grey, grey.safetensors, grey.vec.safetensors" in missing.output


def mixture(weights, means, spread):
    from latentfx.priors.mixture import GaussianMixturePrior

    k, d = len(means), len(means[0])
    return GaussianMixturePrior(weights=torch.tensor(weights), means=torch.tensor(means),
                                scale_tril=torch.eye(d).expand(k, d, d) * spread, images=4)


def test_a_move_past_the_data_is_scaled_back_onto_its_shell():
    from latentfx.latents.attribute_vectors import moved

    z, direction = torch.tensor([[3.0, 0.0]]), torch.tensor([[0.0, 2.0]])
    amounts = torch.tensor([0.0, 1.0, 2.0])
    free = moved(z, direction, amounts)
    assert torch.allclose(free, torch.tensor([[3.0, 0.0], [3.0, 2.0], [3.0, 4.0]]))
    prior = mixture([1.0], [[0.0, 0.0]], 3.5 / 2 ** 0.5)  # typical length 3.5
    kept = moved(z, direction, amounts, prior=prior)
    assert torch.allclose(kept[0], z[0])  # inside the shell: as it was
    assert torch.allclose(kept[1:].norm(dim=1), torch.tensor([3.5, 3.5]))  # beyond: onto it
    assert torch.allclose(kept[1:] / kept[1:].norm(dim=1, keepdim=True),
                          free[1:] / free[1:].norm(dim=1, keepdim=True))  # the same direction


def test_taking_an_attribute_away_stops_at_the_datas_lowest_reading():
    from latentfx.latents.attribute_vectors import moved

    # readings along y: components at 0, -1 and 0, each 0.5 wide, so the lowest is -1 - 2 * 0.5;
    # the far component keeps the shell (about 7) out of the way
    prior = mixture([0.25, 0.25, 0.5], [[0.0, 0.0], [0.0, -1.0], [10.0, 0.0]], 0.5)
    assert prior.reach_along(torch.tensor([0.0, 1.0])) == pytest.approx((-2.0, 1.0))
    direction = torch.tensor([[0.0, 1.0]])
    swept = moved(torch.tensor([[0.0, 0.5]]), direction, torch.tensor([-5.0, -1.0, 0.0, 3.0]),
                  prior=prior)
    assert torch.allclose(swept[:, 1], torch.tensor([-2.0, -0.5, 0.5, 3.5]))  # no cap above
    below = moved(torch.tensor([[0.0, -3.0]]), direction, torch.tensor([-1.0, 1.0]),
                  prior=prior)
    assert torch.allclose(below[:, 1], torch.tensor([-3.0, -2.0]))  # not pushed further down
    assert torch.equal(moved(torch.zeros(1, 2), torch.zeros(1, 2), torch.tensor([-1.0]),
                             prior=prior), torch.zeros(1, 2))


def test_the_shell_is_the_mixtures_root_mean_square_length():
    from latentfx.priors.mixture import GaussianMixturePrior

    prior = GaussianMixturePrior(weights=torch.tensor([0.25, 0.75]),
                                 means=torch.tensor([[3.0, 0.0], [0.0, 1.0]]),
                                 scale_tril=torch.eye(2).expand(2, 2, 2) * 0.5, images=4)
    draws = prior.sample(200000, generator=torch.Generator().manual_seed(0))
    assert prior.typical_length == pytest.approx(float(draws.pow(2).sum(1).mean().sqrt()),
                                                 rel=1e-2)
    # (0.25 * (9 + 0.5) + 0.75 * (1 + 0.5)) ** 0.5
    assert prior.typical_length == pytest.approx(3.5 ** 0.5)


# Three tight clusters, one kind each (circle, square, triangle), and a far one that claims
# none of their latents but widens the shell out of the way.
KINDS = {"circle": [0.0, 0.0], "square": [2.0, 0.0], "triangle": [0.0, 2.0]}


def kinds_prior():
    from latentfx.priors.mixture import GaussianMixturePrior

    means = torch.tensor([*KINDS.values(), [-10.0, -10.0]])
    return GaussianMixturePrior(weights=torch.full((4,), 0.25), means=means,
                                scale_tril=torch.eye(2).expand(4, 2, 2) * 0.1, images=4)


def test_between_share_is_the_part_of_the_spread_between_component_means():
    prior = mixture([0.5, 0.5], [[-1.0, 0.0], [1.0, 0.0]], 0.5)
    assert prior.between_share(torch.tensor([1.0, 0.0])) == pytest.approx(1 / 1.25)
    assert prior.between_share(torch.tensor([0.0, 1.0])) == pytest.approx(0.0)


def test_a_move_towards_another_kind_lands_in_its_cluster_and_stays_there():
    from latentfx.latents.attribute_vectors import moved

    circle = torch.tensor([[0.05, 0.05]])  # an item of the circle cluster, a little off-centre
    square = torch.tensor(KINDS["square"]) - torch.tensor(KINDS["circle"])
    to_square = torch.tensor([2.0, 0.0]) - torch.tensor([0.0, 1.0])  # squares - the rest
    swept = moved(circle, to_square, torch.tensor([0.0, 1.0, 2.0, 3.0]), prior=kinds_prior())
    assert torch.equal(swept[0], circle[0])  # amount 0: the item itself
    # a square with the item's own offset, however far past the squares the amount reaches
    # (the clusters hold 99.8% of the spread along the vector, so 3% of the move is straight)
    assert (swept[1:] - (circle + square)).norm(dim=1).max() < 0.25
    straight = moved(circle, to_square, torch.tensor([3.0]))
    assert (straight - torch.tensor(KINDS["square"])).norm() > 3  # where no square lies


def test_a_move_against_a_kind_lands_on_the_nearest_other_kind_not_between_them():
    from latentfx.latents.attribute_vectors import moved

    circle = torch.tensor([[0.1, 0.0]])  # nearer the squares than the triangles
    to_circle = torch.tensor([0.0, 0.0]) - torch.tensor([1.0, 1.0])  # circles - the rest
    away = moved(circle, to_circle, torch.tensor([-1.0]), prior=kinds_prior())
    assert torch.allclose(away, torch.tensor([[2.1, 0.0]]), atol=1e-3)
    between = moved(circle, to_circle, torch.tensor([-1.0]))  # the straight move
    assert min((between[0] - torch.tensor(m)).norm() for m in KINDS.values()) > 0.9


def test_where_the_clusters_mix_an_attribute_the_move_along_it_stays_straight():
    from latentfx.latents.attribute_vectors import moved

    # two clusters side by side, each holding the whole range of the attribute (along y)
    prior = mixture([0.5, 0.5], [[-3.0, 0.0], [3.0, 0.0]], 2.0)
    item, up = torch.tensor([[-3.0, 0.5]]), torch.tensor([0.0, 1.0])
    amounts = torch.tensor([-1.0, 0.0, 1.0, 2.0])
    assert torch.allclose(moved(item, up, amounts, prior=prior), moved(item, up, amounts),
                          atol=1e-4)


def test_far_moves_read_their_clusters_within_the_datas_reach():
    from latentfx.latents.attribute_vectors import moved
    from latentfx.priors.mixture import GaussianMixturePrior

    # the kinds, and a wide far cluster: past the squares, its density falls slowest, so a
    # latent far beyond them is claimed by it unless the claims are read within reach
    means = torch.tensor([*KINDS.values(), [-10.0, -10.0]])
    spreads = torch.tensor([0.1, 0.1, 0.1, 1.0])
    prior = GaussianMixturePrior(weights=torch.full((4,), 0.25), means=means,
                                 scale_tril=torch.eye(2) * spreads[:, None, None], images=4)
    circle, to_square = torch.tensor([[0.05, 0.05]]), torch.tensor([2.0, -1.0])
    far = moved(circle, to_square, torch.tensor([3.0]), prior=prior)
    across = torch.tensor([1.0, 2.0]) / 5 ** 0.5  # at right angles to the vector
    square = circle + torch.tensor([2.0, 0.0])  # the item's offset in the squares' cluster
    assert float((far - square) @ across) == pytest.approx(0.0, abs=1e-3)


def test_amount_zero_is_the_item_even_outside_the_shell():
    from latentfx.latents.attribute_vectors import moved

    prior = kinds_prior()
    item = torch.tensor([[12.0, 1.0]])  # longer than the shell (about 7.3)
    assert float(item.norm()) > prior.typical_length
    swept = moved(item, torch.tensor([2.0, -1.0]), torch.tensor([0.0, 1.0]), prior=prior)
    assert torch.allclose(swept[0], item[0], atol=1e-5)


def test_apply_follows_the_clusters_and_an_older_manifest_moves_straight(labelled, tmp_path):
    from pipelines.apply import ApplySpec, run

    base, rows = labelled
    square, _ = make_vector(base, "kind_square")
    circle = next(r["path"] for r in rows if r["kind_circle"] == "1" and
                  r["background_dark"] == "1" and r["colour_white"] == "0")
    strips = {}
    for clusters in (True, False):
        out = tmp_path / f"{clusters}.png"
        run(ApplySpec(image=str(base / "img" / circle), output=str(out), model="shapes",
                      vectors=[(str(square), 1.0)], sweep=(-2.0, 2.0), clusters=clusters,
                      device="cpu"))
        strips[clusters] = np.asarray(Image.open(out)).astype(float)
    assert (np.abs(strips[True] - strips[False]) > 30).sum() > 100  # the plumbing reaches `moved`
    old = ApplySpec.from_dict({"image": "a.png", "output": "b.png", "vectors": [["v", 1.0]]})
    assert old.clusters is False
    assert ApplySpec(image="a.png", output="b.png", vectors=[("v", 1.0)]).clusters is True


def test_several_vectors_are_followed_one_after_another(labelled, tmp_path):
    """A blue square moved along "triangle" and "red" becomes a red triangle, as the model's
    own label read-out sees the picture apply wrote (along their sum, the red squares'
    cluster lies nearer and the square stayed a square)."""
    from latentfx.images.loading import image_to_tensor, load_image
    from latentfx.models.loading import load_model
    from pipelines.apply import ApplySpec, run

    base, rows = labelled
    vectors = [(str(make_vector(base, attr)[0]), 1.0) for attr in ("kind_triangle", "colour_red")]
    square = next(r["path"] for r in rows if r["kind_square"] == "1" and r["colour_blue"] == "1")
    out = tmp_path / "red-triangle.png"
    run(ApplySpec(image=str(base / "img" / square), output=str(out), model="shapes",
                  vectors=vectors, device="cpu"))
    model, _ = load_model("shapes", device="cpu")
    with torch.no_grad():
        picture = image_to_tensor(load_image(out).resize((64, 64), Image.BILINEAR))[None]
        logits = model.label_head(model.encode(picture).mode())[0]
    read = dict(zip(model.config.guide_labels, logits.tolist()))
    assert read["kind_triangle"] > 0 and read["colour_red"] > 0, read
    assert read["kind_square"] < 0 and read["colour_blue"] < 0, read
