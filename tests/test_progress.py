"""Progress that reaches a log: plain lines with rate and ETA when stderr is no terminal."""

import io

import cli
from conftest import tiny_train_spec


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_plain_lines_come_at_a_steady_interval_with_an_eta():
    out, clock = io.StringIO(), Clock()
    bar = cli.ProgressBar("train", "step", stream=out, clock=clock)
    for done in range(0, 61):  # one step a second, 60 steps
        bar(done, 60, f"loss {1 / (done + 1):.3f}")
        clock.now += 1.0
    lines = out.getvalue().splitlines()
    assert len(lines) == 6  # at 10, 20, ..., 50 s, and the end (60 s)
    assert lines[0].startswith("train: 10/60 (17%) 1.00 step/s ETA 0:00:50  loss 0.091")
    assert "done in 0:01:00" in lines[-1] and lines[-1].startswith("train: 60/60 (100%)")


def test_a_new_phase_restarts_the_rate():
    out, clock = io.StringIO(), Clock()
    bar = cli.ProgressBar("train", stream=out, clock=clock)
    for done in range(1, 4):  # a quick first phase: 3 files in 3 s
        clock.now += 1.0
        bar(done, 3, "checking")
    for done in range(1, 21):  # then 20 steps, 2 s each
        clock.now += 2.0
        bar(done, 20)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("train: 3/3 (100%)")
    # The phase starts at step 1; 10 s later, at step 6: 5 steps in 10 s, 14 to go.
    assert lines[1].startswith("train: 6/20 (30%) 0.50 it/s ETA 0:00:28")


def test_train_writes_plain_progress_to_a_log(shapes_folder, tmp_path):
    from click.testing import CliRunner

    result = CliRunner().invoke(cli.cli, [
        "train", str(shapes_folder), "-o", str(tmp_path / "m.safetensors"), "--family",
        "vector", "--size", "32", "--latent", "8", "--widths", "8,16", "--blocks", "1",
        "--batch", "8", "--steps", "3", "--workers", "0", "--device", "cpu"],
        catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "train: 3/3 (100%)" in result.output and "loss" in result.output
    assert "\r" not in result.output  # no bar redraws in a log


def test_the_cancel_message_names_a_command_that_resumes(shapes_folder, tmp_path):
    import shlex

    import pytest
    from click.testing import CliRunner

    from pipelines import train

    calls = {"n": 0}

    def cancel():
        calls["n"] += 1
        return calls["n"] > 2

    spec = tiny_train_spec(shapes_folder, tmp_path / "m.safetensors", steps=5, seed=3)
    with pytest.raises(train.TrainingInterrupted) as stopped:
        train.run(spec, cancel=cancel)
    command = shlex.split(str(stopped.value).split("Continue with: ")[1])
    assert command[:2] == ["latentfx", "train"]
    resumed = CliRunner().invoke(cli.cli, command[1:], catch_exceptions=False)
    assert resumed.exit_code == 0, resumed.output
    assert "resumed at step 2" in resumed.output and "trained 5 steps" in resumed.output
