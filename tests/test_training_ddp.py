"""Training in two processes for real (torch.distributed, gloo on the CPU), against one."""

import subprocess
import sys

import pytest

from conftest import ROOT, tiny_train_spec
from latentfx.models.checkpoint import read_checkpoint
from pipelines import train

# tiny_train_spec's settings, spatial (no batch statistics: see latentfx.training.distributed)
SETTINGS = ["--family", "spatial", "--size", "32", "--latent", "4:4", "--widths", "8,16",
            "--blocks", "1", "--lr", "1e-2", "--beta", "1e-3", "--kl-warmup", "5",
            "--seed", "0", "--save-every", "100"]
RUNTIME = ["--workers", "0", "--device", "cpu"]

# Two processes average the gradients of two halves where one process takes the gradient of
# the whole batch: the same sums in another order, so the curves agree to float rounding,
# grown a little by 20 Adam steps. A process reading the wrong share, or drawing other noise,
# is off by percents.
TOLERANCE = 1e-4


def cli_train(folder, out, *extra):
    done = subprocess.run([sys.executable, str(ROOT / "cli.py"), "train", str(folder), "-o",
                           str(out), *extra], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def saved(out):
    run = out.with_name(out.name.removesuffix(".safetensors") + ".run")
    return read_checkpoint(run / "checkpoint.safetensors").metadata["training"]


def test_two_processes_follow_one_and_resume_under_another_count(shapes_folder, tmp_path):
    one = tmp_path / "one.safetensors"  # in one process: 10 steps, then 10 more
    spatial = dict(family="spatial", latent="4:4", save_every=100)
    train.run(tiny_train_spec(shapes_folder, one, steps=10, **spatial))
    train.run(tiny_train_spec(shapes_folder, one, steps=20, resume=True, **spatial))
    two = tmp_path / "two.safetensors"  # in two processes, then continued in one
    done = cli_train(shapes_folder, two, *SETTINGS, "--batch", "8", "--steps", "10", *RUNTIME,
                     "--nproc", "2")
    assert done.stdout.count("trained 10 steps") == 1  # process 0 alone reports
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "one.run", "one.safetensors", "two.run", "two.safetensors"]
    assert saved(two)["steps"] == 10 and saved(two)["state"]["images_seen"] == 80
    done = cli_train(shapes_folder, two, "--resume", "--steps", "20", *RUNTIME)
    assert "resumed at step 10" in done.stdout

    rows_one, rows_two = saved(one)["state"]["history"], saved(two)["state"]["history"]
    assert [r[0] for r in rows_two] == [r[0] for r in rows_one] == [10, 20]
    for a, b in zip(rows_one, rows_two):  # [step, loss, mse, kl]
        assert b[1:] == pytest.approx(a[1:], rel=TOLERANCE)
    # and the tolerance is no formality: another seed's curve is far outside it
    other = tmp_path / "other.safetensors"
    train.run(tiny_train_spec(shapes_folder, other, steps=10, seed=1, **spatial))
    assert saved(other)["state"]["history"][0][1:] != pytest.approx(rows_one[0][1:],
                                                                    rel=TOLERANCE)


def test_the_global_batch_must_split_evenly(shapes_folder, tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "cli.py"), "train", str(shapes_folder),
                           "-o", str(tmp_path / "m.safetensors"), *SETTINGS, "--batch", "7",
                           "--steps", "2", "--nproc", "2", *RUNTIME],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert "--batch 7 does not split evenly across 2 processes" in done.stderr
    assert not (tmp_path / "m.run").exists()
