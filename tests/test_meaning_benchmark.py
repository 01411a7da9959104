"""The meaning benchmark's measures on hand-made inputs, its dataset adapter, its judge, and
one tiny run of the whole script."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

from labelled_data import class_ids, labelled_dataset  # noqa: E402
from meaning_metrics import (JOINT, accuracy, confident_share, is_monotone,  # noqa: E402
                             monotone_share)


def test_a_picture_is_confident_only_when_every_group_is():
    probs = {"kind": torch.tensor([[0.95, 0.05], [0.5, 0.5], [0.97, 0.03], [0.2, 0.8]]),
             "colour": torch.tensor([[0.0, 1.0], [1.0, 0.0], [0.55, 0.45], [0.05, 0.95]])}
    share = confident_share(probs)
    assert share["kind"] == pytest.approx(0.5) and share["colour"] == pytest.approx(0.75)
    assert share[JOINT] == pytest.approx(0.25)  # only the first is sure of both


def test_a_ghost_of_two_is_not_a_clean_midpoint():
    clean = torch.tensor([[0.02, 0.96, 0.02]])
    ghosts = torch.tensor([[0.5, 0.5, 0.0], [0.45, 0.1, 0.45], [0.85, 0.15, 0.0]])
    assert confident_share({"kind": clean})[JOINT] == 1.0
    assert confident_share({"kind": ghosts})[JOINT] == 0.0
    assert confident_share({"kind": ghosts}, threshold=0.8)[JOINT] == pytest.approx(1 / 3)


def test_accuracy_per_group_and_joint():
    probs = {"kind": torch.tensor([[0.9, 0.1], [0.3, 0.7], [0.6, 0.4]]),
             "colour": torch.tensor([[0.2, 0.8], [0.1, 0.9], [0.7, 0.3]])}
    labels = {"kind": torch.tensor([0, 1, 1]), "colour": torch.tensor([1, 0, 0])}
    right = accuracy(probs, labels)
    assert right["kind"] == pytest.approx(2 / 3) and right["colour"] == pytest.approx(2 / 3)
    assert right[JOINT] == pytest.approx(1 / 3)


def test_a_sweep_is_monotone_when_it_rises_steadily():
    sweeps = torch.tensor([
        [0.0, 0.1, 0.4, 0.8, 1.0],      # rises steadily
        [0.0, 0.5, 1.0, 0.98, 1.0],     # jitter once saturated: within the tolerance
        [0.0, 0.6, 0.2, 0.8, 1.0],      # falls back on the way
        [0.1, 0.1, 0.12, 0.15, 0.2],    # never comes in
        [1.0, 0.8, 0.5, 0.2, 0.0],      # goes the wrong way
        [0.9, 1.0, 1.0, 1.0, 1.0],      # there all along: the vector changes nothing
    ])
    assert is_monotone(sweeps).tolist() == [True, True, False, False, False, False]
    assert monotone_share(sweeps) == pytest.approx(2 / 6)
    assert is_monotone(sweeps[2:3], tolerance=0.5).item()


def test_class_ids_from_label_rows():
    rows = [{"kind_a": 0, "kind_b": 1, "bold": 1}, {"kind_a": 1, "kind_b": 0, "bold": 0}]
    assert class_ids(rows, ("kind_a", "kind_b")).tolist() == [1, 0]
    assert class_ids(rows, ("bold",)).tolist() == [1, 0]
    with pytest.raises(ValueError, match="one-hot"):
        class_ids([{"kind_a": 1, "kind_b": 1}], ("kind_a", "kind_b"))


def test_the_shapes_adapter_labels_what_it_draws():
    from latentfx.datasets.shapes import COLOURS, KINDS, factors_for

    dataset = labelled_dataset("shapes")
    images, labels = dataset.generate(6, seed=4, size=32)
    assert images.shape == (6, 3, 32, 32) and 0 <= images.min() and images.max() <= 1
    for i in range(6):
        f = factors_for(i, seed=4)
        assert KINDS[labels["kind"][i]] == f.kind
        assert list(COLOURS)[labels["colour"][i]] == f.colour
        background = dataset.classes("background")[labels["background"][i]]
        assert background == f"background_{f.background}"


def test_the_glyphs_adapter_draws_jittered_glyphs_with_their_labels():
    glyphs = pytest.importorskip("latentfx.datasets.glyphs")

    dataset = labelled_dataset("glyphs")
    pictures, rows = dataset.draw(40, 7, 32)
    images, labels = dataset.generate(40, seed=7, size=32)
    assert images.shape == (40, 3, 32, 32)
    chars = glyphs.parse_chars(glyphs.DEFAULT_CHARS)
    assert [chars[i] for i in labels["character"]] == [row["char"] for row in rows]
    assert labels["weight"].tolist() == [row["bold"] for row in rows]
    assert labels["slant"].tolist() == [row["italic"] for row in rows]
    again, _ = dataset.generate(40, seed=7, size=32)
    other, _ = dataset.generate(40, seed=8, size=32)
    assert torch.equal(images, again) and not torch.equal(images, other)


def test_an_unknown_dataset_is_an_input_error():
    from latentfx.errors import InputError

    with pytest.raises(InputError, match="faces"):
        labelled_dataset("faces")


def test_the_classifier_learns_a_generator_label():
    from label_classifier import train_classifier

    dataset = labelled_dataset("shapes")
    images, labels = dataset.generate(96, seed=5, size=32)
    classes = {g: len(dataset.classes(g)) for g in dataset.groups}
    classifier = train_classifier(images, labels, classes=classes, epochs=10, seed=0, batch=16)
    test_images, test_labels = dataset.generate(48, seed=6, size=32)
    assert accuracy(classifier.probabilities(test_images), test_labels)["background"] > 0.95


def test_a_saved_classifier_is_used_again_only_with_its_settings(tmp_path):
    from label_classifier import LabelClassifier, load_classifier, save_classifier

    settings = {"dataset": "shapes", "classes": {"kind": 4, "background": 2}, "n": 100}
    torch.manual_seed(0)
    classifier = LabelClassifier(classes=settings["classes"]).eval()
    path = save_classifier(tmp_path / "judge.safetensors", classifier, settings)
    x = torch.rand(3, 3, 32, 32)
    again = load_classifier(path, settings)
    for group, p in again.probabilities(x).items():
        assert torch.allclose(p, classifier.probabilities(x)[group])
    assert load_classifier(path, {**settings, "n": 200}) is None


def test_prior_draws_ask_the_model_for_the_chosen_prior():
    import meaning

    from latentfx.errors import InputError

    class Plain:  # a model from before fitted priors
        def sample_prior(self, n, *, generator=None, temperature=1.0):
            return torch.randn(n, 2, generator=generator)

    class Fitted:
        def sample_prior(self, n, *, generator=None, temperature=1.0, prior="normal"):
            return torch.full((n, 2), 5.0 if prior == "data" else 0.0)

    assert meaning.prior_draws(Plain(), 3, prior="normal", seed=0).shape == (3, 2)
    with pytest.raises(InputError, match="no fitted priors"):
        meaning.prior_draws(Plain(), 3, prior="data", seed=0)
    assert meaning.prior_draws(Fitted(), 3, prior="data", seed=0).eq(5.0).all()
    assert meaning.prior_draws(Fitted(), 3, prior="normal", seed=0).eq(0.0).all()


def test_help_runs():
    done = subprocess.run([sys.executable, str(BENCHMARKS / "meaning.py"), "--help"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "--prior" in done.stdout


def test_a_tiny_run_reports_every_measure(tiny_vector_model, tmp_path, capsys):
    import meaning

    meaning.main(["--model", str(tiny_vector_model), "--n", "24", "--classifier-n", "120",
                  "--epochs", "1", "--sweep-bases", "2", "--prior", "normal",
                  "--pictures", str(tmp_path)])
    out = capsys.readouterr().out
    for measure in ("(a) reconstructions keep kind", "(b) normal-prior samples",
                    "(c) walk midpoints clean", "(d) attribute AUC, background",
                    "(e) monotone sweeps"):
        assert measure in out
    for along in ("line", "data"):  # tiny-vector has a fitted prior: both walks are measured
        assert f"| tiny-vector | (c) walk midpoints clean along the {along}, every group |" in out
    assert {p.name for p in tmp_path.iterdir()} >= {"samples-normal.png", "midpoints.png"}
