"""train --submit on a real farm: a real redis-server, real workers, one killed mid-run."""

import os
import shutil
import signal

import pytest
from click.testing import CliRunner

import cli
from farm_harness import farm_with_workers, wait_for
from latentfx.models.checkpoint import read_checkpoint

STEPS, SAVE_EVERY = 300, 40


@pytest.fixture(scope="module")
def farm(tmp_path_factory):
    # A short lease: the reconciler re-queues a killed worker's run within seconds.
    yield from farm_with_workers(tmp_path_factory.mktemp("farm-train"), "w1", "w2",
                                 LATENTFX_LEASE="4")


@pytest.fixture(scope="module")
def shared_shapes(farm, shapes_folder):
    """The training images under the storage root: folders are shared, never copied."""
    return shutil.copytree(shapes_folder, farm.storage / "shapes")


def invoke(farm, *args):
    return CliRunner().invoke(cli.cli, [str(a) for a in args], env=farm.env,
                              catch_exceptions=False)


def submit_training(farm, folder, *, steps: int) -> str:
    result = invoke(farm, "train", folder, "-o", "m.safetensors", "--family", "vector",
                    "--size", 32, "--latent", 8, "--widths", "8,16", "--blocks", 1, "--batch",
                    8, "--steps", steps, "--save-every", SAVE_EVERY, "--kl-warmup", 5,
                    "--workers", 1, "--device", "cpu", "--submit", "--queue", "cpu")
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[0]


def at_step(store, job, low: int):
    """The job's note once its run has passed step `low` (and its first checkpoint)."""
    note = store.job(job)["note"]
    return note if note and "loss" in note["message"] and note["done"] > low else None


def saved_state(model):
    run = model.with_name("m.run")
    return read_checkpoint(run / "checkpoint.safetensors").metadata["training"]


def test_a_killed_workers_run_resumes_on_another_and_ends_at_its_step_count(
        farm, shared_shapes, tmp_path):
    store = farm.store()
    job = submit_training(farm, shared_shapes, steps=STEPS)
    wait_for(lambda: at_step(store, job, SAVE_EVERY + 5), timeout=120,
             what="the run to pass its first checkpoint", interval=0.02)
    shown = invoke(farm, "status", job).output  # step, loss and ETA while it runs
    assert "running" in shown and "ETA" in shown and "loss" in shown, shown

    owner = store.chunk(job, 0)["worker"]
    victim = next(p for p, name in zip(farm.workers, ("w1", "w2")) if owner == f"{name}@test")
    os.killpg(victim.pid, signal.SIGKILL)  # the whole worker, mid-run
    record = farm.wait_job(job, timeout=240)
    assert record["state"] == "succeeded", farm.logs()

    attempts = store.attempts(job)
    assert len(attempts) == 2 and attempts[0]["worker"] != attempts[1]["worker"]
    fetched = tmp_path / "fetched"
    result = invoke(farm, "fetch", job, "-o", fetched)
    assert result.exit_code == 0, result.output
    model = read_checkpoint(fetched / "m.safetensors").metadata["training"]
    assert model["steps"] == STEPS
    for picture in ("samples.png", "reconstructions.png", "loss.png"):
        assert (fetched / "m.run" / picture).is_file()
    state = saved_state(fetched / "m.safetensors")["state"]
    # The second worker carried on from the last checkpoint the first one wrote.
    first, resumed = state["starts"]
    assert first == 0 and resumed % SAVE_EVERY == 0 and resumed > 0
    assert [row[0] for row in state["history"]] == list(range(10, STEPS + 1, 10))


def test_cancel_stops_the_run_at_the_next_step_and_keeps_its_last_model(
        farm, shared_shapes, tmp_path):
    store = farm.store()
    job = submit_training(farm, shared_shapes, steps=100_000)
    wait_for(lambda: at_step(store, job, 5), timeout=120, what="the run to train",
             interval=0.02)
    assert invoke(farm, "cancel", job).exit_code == 0
    record = farm.wait_job(job, timeout=120)
    assert record["state"] == "cancelled", farm.logs()
    # The job reads cancelled at once; its run stops at the next step and saves.
    wait_for(lambda: store.chunk(job, 0)["state"] == "cancelled", timeout=60,
             what="the run to stop")
    fetched = tmp_path / "fetched"
    result = invoke(farm, "fetch", job, "-o", fetched)
    assert result.exit_code == 0, result.output
    kept = read_checkpoint(fetched / "m.safetensors").metadata["training"]
    assert 5 < kept["steps"] < 100_000  # saved where the cancel found it
    assert saved_state(fetched / "m.safetensors")["steps"] == kept["steps"]
    assert (fetched / "m.run" / "loss.png").is_file()


@pytest.fixture
def short_farm(tmp_path):
    """A farm whose soft time limit is 6 s: a training run goes in slices of 0.8 x 6 s."""
    yield from farm_with_workers(tmp_path / "short", "w1", LATENTFX_SOFT_LIMIT="6",
                                 LATENTFX_HARD_LIMIT="9", LATENTFX_LEASE="4")


def test_a_run_longer_than_the_time_limit_goes_on_in_slices(short_farm, shapes_folder):
    # Each slice checkpoints and a new delivery carries it on, its attempt not counted
    # against the worker-loss cap.
    folder = shutil.copytree(shapes_folder, short_farm.storage / "shapes")
    job = submit_training(short_farm, folder, steps=1200)
    record = short_farm.wait_job(job, timeout=300)
    assert record["state"] == "succeeded", short_farm.logs()
    store = short_farm.store()
    assert store.chunk(job, 0)["attempts"] == 1 and len(store.attempts(job)) > 1
    saved = saved_state(short_farm.storage / "jobs" / job / "out" / "m.safetensors")
    starts, rows = saved["state"]["starts"], [row[0] for row in saved["state"]["history"]]
    assert saved["steps"] == 1200 and len(starts) == len(store.attempts(job))
    assert starts == sorted(set(starts)) and set(starts[1:]) <= set(rows)  # each went on
    assert rows == sorted(set(rows)) and rows[-1] == 1200                  # where one ended
