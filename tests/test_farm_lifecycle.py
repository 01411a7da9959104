"""A finished job's life ends: `latentfx purge --older-than N` (and the reconciler, after
LATENTFX_RECORD_DAYS) removes its record, frames and staged inputs, never a queued or
running job's; staged models are shared by content hash; only images, videos and
.safetensors files are staged."""

import os
import time

import pytest

from farm_harness import farm_with_workers, wait_for
from test_farm import invoke, running_attempt, slow_walk_args, submit


@pytest.fixture(scope="module")
def farm(tmp_path_factory):
    yield from farm_with_workers(tmp_path_factory.mktemp("lifecycle"), "w1")


def test_only_images_videos_and_safetensors_are_staged(farm, tmp_path):
    secret = tmp_path / "passwd"
    secret.write_text("root:x:0:0\n")
    result = invoke(farm, "walk", "seed:1", secret, "-o", "w.mp4", "--submit", "--queue", "cpu")
    assert result.exit_code != 0
    assert f"{secret}: not an input the farm takes" in result.output
    assert not [p for p in farm.storage.rglob("*passwd*")]


def test_a_model_sent_twice_is_staged_once_by_its_hash(farm, tiny_spatial_model, tmp_path):
    from latentfx.models.checkpoint import file_sha256

    args = ["walk", "seed:1", "seed:2", "--frames", 4, "--size", "32x32", "-m",
            tiny_spatial_model, "--device", "cpu"]
    first, second = submit(farm, *args, "-o", "a.mp4"), submit(farm, *args, "-o", "b.mp4")
    shared = farm.storage / "models" / f"{file_sha256(tiny_spatial_model)}.safetensors"
    store = farm.store()
    assert store.job(first)["spec"]["model"] == store.job(second)["spec"]["model"] == str(shared)
    assert shared.read_bytes() == tiny_spatial_model.read_bytes()
    assert not list((farm.storage / "jobs" / first / "inputs").iterdir())


def test_purge_removes_finished_jobs_and_leaves_running_ones(farm, tiny_spatial_model,
                                                             shapes_folder):
    store = farm.store()
    done = submit(farm, "walk", shapes_folder / "shape_000001.png", "seed:2", "--frames", 4,
                  "--size", "32x32", "-m", tiny_spatial_model, "--device", "cpu", "-o", "d.mp4")
    assert farm.wait_job(done)["state"] == "succeeded", farm.logs()
    running = submit(farm, *slow_walk_args("still-running.mp4"))
    wait_for(lambda: running_attempt(store, running, 0), timeout=90, what="chunk 0 to start",
             interval=0.01)
    folder = farm.storage / "jobs" / done
    dry = invoke(farm, "purge", "--older-than", 0, "--dry-run")
    assert dry.exit_code == 0 and f"would remove job {done}" in dry.output
    assert store.job(done) and (folder / "inputs").is_dir()  # a dry run removes nothing
    result = invoke(farm, "purge", "--older-than", 0)
    assert result.exit_code == 0, result.output
    assert f"removed job {done}" in result.output and running not in result.output
    assert f"removed {folder / 'inputs'}" in result.output
    assert invoke(farm, "status", done).exit_code != 0  # its record is gone
    assert not (folder / "inputs").exists() and (folder / "out" / "d.mp4").exists()
    assert store.job(running)["state"] == "running"
    invoke(farm, "cancel", running)
    farm.wait_job(running)
    assert f"removed job" not in invoke(farm, "purge", "--older-than", 30).output


def test_a_shared_model_goes_only_with_the_last_job_using_it(farm, tiny_spatial_model):
    store = farm.store()
    args = ["walk", "seed:1", "seed:2", "--frames", 4, "--size", "32x32", "-m",
            tiny_spatial_model, "--device", "cpu"]
    job = submit(farm, *args, "-o", "m.mp4")
    shared = store.job(job)["spec"]["model"]
    os.utime(shared, (time.time() - 7200,) * 2)  # older than the grace of a reused model
    invoke(farm, "cancel", job)
    keep = submit(farm, *args, "--priority", 0, "-o", "keep.mp4")  # touches the model again
    os.utime(shared, (time.time() - 7200,) * 2)
    farm.wait_job(job)
    purged = invoke(farm, "purge", "--older-than", 0).output
    assert f"removed job {job}" in purged and shared not in purged  # `keep` still uses it
    farm.wait_job(keep)
    os.utime(shared, (time.time() - 7200,) * 2)
    assert f"removed {shared}" in invoke(farm, "purge", "--older-than", 0).output


def test_the_reconciler_expires_finished_records(tmp_path, tiny_spatial_model):
    from workers.store import UnknownJob

    # Finished jobs kept for 4 s on this farm.
    fixture = farm_with_workers(tmp_path, "w1", LATENTFX_RECORD_DAYS=4 / 86_400)
    farm = next(fixture)
    store = farm.store()
    job = submit(farm, "walk", "seed:1", "seed:2", "--frames", 4, "--size", "32x32", "-m",
                 tiny_spatial_model, "--device", "cpu", "-o", "expired.mp4")
    assert farm.wait_job(job)["state"] == "succeeded", farm.logs()

    def gone():
        try:
            store.job(job)
        except UnknownJob:
            return True
        return False

    try:
        wait_for(gone, timeout=120, what="the finished record to expire", interval=0.5)
        assert (farm.storage / "jobs" / job / "out" / "expired.mp4").exists()
        assert not (farm.storage / "jobs" / job / "frames").exists()
    finally:
        next(fixture, None)
