"""Label guidance (train --labels / --folder-labels): the 0/1 labels become directions of a
vector model's latent space."""

import csv

import pytest
import torch

from conftest import tiny_train_spec
from latentfx.errors import InputError
from latentfx.latents.attribute_vectors import centroid_difference, separation_score
from latentfx.models.checkpoint import read_checkpoint
from latentfx.models.loading import load_model
from latentfx.training.data import TrainingImages, scan_training_files
from pipelines import train

GUIDED = dict(steps=300, save_every=300, latent="8", label_weight=0.2)


def training_latents(model_path, folder):
    """(posterior means of the folder's images in name order, their label table rows)."""
    model, _ = load_model(str(model_path), device="cpu")
    files = scan_training_files(folder)
    data = TrainingImages(files, size=32, fit="center-crop", mode="none", seed=0)
    with torch.inference_mode():
        z = model.encode(torch.stack([data.plain(i) for i in range(len(data))])).mode()
    with open(folder / "labels.csv", newline="") as fh:
        rows = {r["path"]: r for r in csv.DictReader(fh)}
    return z, [rows[name] for name in files.names]


def worst_auc(z, rows, columns):
    scores = []
    for column in columns:
        has = torch.tensor([r[column] == "1" for r in rows])
        scores.append(separation_score(z, has, centroid_difference(z, has))["auc"])
    return min(scores)


@pytest.fixture(scope="module")
def guided_model(shapes_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("guided") / "guided.safetensors"
    train.run(tiny_train_spec(shapes_folder, out, labels=str(shapes_folder / "labels.csv"),
                              **GUIDED))
    return out


def test_the_guide_labels_are_the_0_1_columns_and_travel_with_the_model(guided_model):
    config = read_checkpoint(guided_model).config
    assert config.guide_labels == (
        "kind_circle", "kind_square", "kind_triangle", "kind_diamond", "colour_red",
        "colour_green", "colour_blue", "colour_yellow", "colour_magenta", "colour_white",
        "background_dark", "background_light")  # size, x and y are measurements
    assert read_checkpoint(guided_model).metadata["training"]["options"]["label_weight"] == 0.2


def test_guidance_lays_every_label_out_as_a_direction(guided_model, shapes_folder, tmp_path):
    # Of every kind and colour, the centroid difference separates the images that have it.
    labels = [f"kind_{k}" for k in ("circle", "square", "triangle", "diamond")] + \
        [f"colour_{c}" for c in ("red", "green", "blue", "yellow", "magenta", "white")]
    z, rows = training_latents(guided_model, shapes_folder)
    assert worst_auc(z, rows, labels) >= 0.8
    # The same run without labels: they are not directions (so the check above can fail).
    plain = tmp_path / "plain.safetensors"
    train.run(tiny_train_spec(shapes_folder, plain, **{**GUIDED, "label_weight": None}))
    z, rows = training_latents(plain, shapes_folder)
    assert worst_auc(z, rows, labels) < 0.7


def test_folder_labels_guide_by_sub_folder(tmp_path):
    from latentfx.datasets.shapes import generate

    for i in range(8):
        image, factors = generate(i, seed=3, size=32)
        (tmp_path / "img" / factors.background).mkdir(parents=True, exist_ok=True)
        image.save(tmp_path / "img" / factors.background / f"{i}.png")
    out = tmp_path / "m.safetensors"
    train.run(tiny_train_spec(tmp_path / "img", out, folder_labels=True, steps=10))
    folders = sorted(p.name for p in (tmp_path / "img").iterdir())
    assert len(folders) == 2 and read_checkpoint(out).config.guide_labels == tuple(folders)


def test_a_substituted_bad_file_brings_its_own_labels(tmp_path):
    from latentfx.datasets.shapes import generate

    for i in range(3):
        generate(i, size=16)[0].save(tmp_path / f"{i}.png")
    whole = (tmp_path / "1.png").read_bytes()
    (tmp_path / "1.png").write_bytes(whole[: len(whole) // 2])
    labels = torch.tensor([[0.0], [1.0], [2.0]])
    data = TrainingImages(scan_training_files(tmp_path), size=16, fit="center-crop",
                          mode="none", seed=0, labels=labels)
    _, y, bad = data[(0, 1)]
    assert float(y) == 2.0 and [name for name, _ in bad] == ["1.png"]


@pytest.mark.parametrize("overrides, message", [
    (dict(family="spatial", latent="4:4", labels="{labels}"), "--family vector"),
    (dict(labels="{labels}", folder_labels=True), "not both"),
    (dict(labels="{folder}/nothing.csv"), "no such labels file"),
    (dict(label_weight=0.1), "goes with --labels"),
    (dict(labels="{labels}", label_weight=0.0), "> 0"),
])
def test_label_settings_are_checked_before_training(shapes_folder, tmp_path, overrides,
                                                    message):
    given = {k: v.format(labels=shapes_folder / "labels.csv", folder=tmp_path)
             if isinstance(v, str) else v for k, v in overrides.items()}
    with pytest.raises(InputError, match=message):
        train.run(tiny_train_spec(shapes_folder, tmp_path / "m.safetensors", **given))


def test_a_table_without_labels_is_refused_by_name(shapes_folder, tmp_path):
    table = tmp_path / "sizes.csv"
    with open(shapes_folder / "labels.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    with open(table, "w", newline="") as fh:
        writer = csv.DictWriter(fh, ["path", "size"], extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    with pytest.raises(InputError, match="sizes.csv: no label"):
        train.run(tiny_train_spec(shapes_folder, tmp_path / "m.safetensors", labels=str(table)))


def test_a_guided_run_resumes_only_with_its_labels(shapes_folder, tmp_path):
    labels = str(shapes_folder / "labels.csv")
    out = tmp_path / "m.safetensors"
    train.run(tiny_train_spec(shapes_folder, out, labels=labels, steps=10, save_every=5))
    with pytest.raises(InputError, match="give its --labels"):
        train.run(tiny_train_spec(shapes_folder, out, steps=20, resume=True))
    spec = tiny_train_spec(shapes_folder, out, labels=labels, steps=20, resume=True)
    assert "--labels" in spec.resume_command()
    assert train.run(spec).steps == 20


def test_a_guided_run_resumes_from_the_command_line(shapes_folder, tmp_path):
    from click.testing import CliRunner

    import cli

    out, labels = tmp_path / "m.safetensors", str(shapes_folder / "labels.csv")
    common = ["train", str(shapes_folder), "-o", str(out), "--labels", labels, "--device",
              "cpu", "--workers", "0"]
    first = CliRunner().invoke(cli.cli, common + [
        "--family", "vector", "--size", "32", "--latent", "8", "--widths", "8,16", "--blocks",
        "1", "--batch", "8", "--steps", "10", "--save-every", "5"], catch_exceptions=False)
    assert first.exit_code == 0, first.output
    again = CliRunner().invoke(cli.cli, common + ["--resume", "--steps", "20"],
                               catch_exceptions=False)
    assert again.exit_code == 0, again.output
    assert "resumed at step 10" in again.output and "trained 20 steps" in again.output


def test_a_guided_model_samples_where_its_labels_read_decisively(guided_model):
    from latentfx.models.vector import decisive, label_entropy

    model, _ = load_model(str(guided_model), device="cpu")

    def entropy(z):  # written out here, so that label_entropy is checked against it
        p = torch.sigmoid(model.label_head(z)).clamp(1e-6, 1 - 1e-6)
        return -(p * p.log() + (1 - p) * (1 - p).log()).sum(1)

    with torch.no_grad():
        candidates = model.fitted_prior.sample(64 * 8, generator=torch.Generator().manual_seed(0))
        assert torch.allclose(label_entropy(model.label_head, candidates), entropy(candidates),
                              atol=1e-4)
        chosen = decisive(model.label_head, candidates, 64)
        plain = candidates[::8]
        assert entropy(chosen).mean() < entropy(plain).mean()
        assert torch.equal(decisive(model.label_head, candidates, 64), chosen)
        # sample_prior uses it for the data prior, and a seed still gives one latent
        one = model.sample_prior(1, generator=torch.Generator().manual_seed(5), prior="data")
        again = model.sample_prior(1, generator=torch.Generator().manual_seed(5), prior="data")
        assert torch.equal(one, again)
        # of settled draws (VectorVAE.settled), the most decisive
        settled = model.settled(model.fitted_prior.sample(256, generator=torch.Generator()
                                                          .manual_seed(1)))
        assert entropy(model.sample_prior(256, generator=torch.Generator().manual_seed(1),
                                          prior="data")).mean() < entropy(settled).mean()


def test_sharpening_steps_down_the_label_entropy_as_autograd_would(guided_model):
    from latentfx.models.vector import label_entropy, sharpened

    head = load_model(str(guided_model), device="cpu")[0].label_head
    z = torch.randn(32, 8, generator=torch.Generator().manual_seed(2))
    at = z.clone().requires_grad_(True)
    label_entropy(head, at).sum().backward()
    one_step = sharpened(head, z, steps=1, rate=0.2)
    assert torch.allclose(one_step, z - 0.2 * at.grad, atol=1e-5)
    with torch.inference_mode():  # where walks and samples run: no autograd needed
        far = sharpened(head, z)
    assert (label_entropy(head, far) <= label_entropy(head, z) + 1e-6).all()
    assert label_entropy(head, far).mean() < 0.5 * label_entropy(head, z).mean()
