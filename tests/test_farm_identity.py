"""The farm's identity: a worker whose storage root is not the farm's (another folder, or an
empty one where the share is not mounted) refuses to start, and a running worker whose root
loses the marker takes no work until it is back, failing nothing."""

import subprocess
import sys

import pytest

from conftest import ROOT
from farm_harness import farm_with_workers, wait_for
from test_farm import running_attempt, slow_walk_args, submit


@pytest.fixture(scope="module")
def farm(tmp_path_factory):
    yield from farm_with_workers(tmp_path_factory.mktemp("identity"), "w1")


def start_worker_with(farm, storage) -> subprocess.CompletedProcess:
    env = {**farm.env, "LATENTFX_STORAGE": str(storage)}
    return subprocess.run([sys.executable, "-c", "import cli; cli.main()", "worker",
                           "--queues", "cpu", "-n", "stray@test"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_the_first_worker_marks_the_root_with_the_farm_id(farm):
    from workers.identity import MARKER

    marker = (farm.storage / MARKER).read_text().strip()
    assert len(marker) == 32 and farm.store().farm_id() == marker


def test_a_worker_on_an_empty_folder_refuses_to_start(farm, tmp_path):
    """An unmounted share looks like an empty folder at the same path."""
    empty = tmp_path / "not-mounted"
    empty.mkdir()
    result = start_worker_with(farm, empty)
    assert result.returncode != 0
    assert f"storage root {empty.resolve()} holds no farm marker" in result.stderr + result.stdout
    assert "not mounted" in result.stderr + result.stdout
    assert list(empty.iterdir()) == []  # nothing written there


def test_a_worker_on_another_farms_root_refuses_to_start(farm, tmp_path):
    from workers.identity import MARKER

    other = tmp_path / "other-farm"
    other.mkdir()
    (other / MARKER).write_text("0" * 32 + "\n")
    result = start_worker_with(farm, other)
    assert result.returncode != 0
    assert "belongs to farm 0000" in result.stderr + result.stdout


def test_a_root_that_loses_its_marker_pauses_the_worker_and_fails_nothing(farm):
    from workers.identity import MARKER

    store = farm.store()
    job = submit(farm, *slow_walk_args("paused.mp4"))
    wait_for(lambda: running_attempt(store, job, 0), timeout=90, what="chunk 0 to start",
             interval=0.002)
    marker = farm.storage / MARKER
    hidden = farm.storage / "marker-away"
    marker.rename(hidden)  # the share goes away under the running worker
    try:
        wait_for(lambda: "no longer holds this farm's marker" in farm.logs(), timeout=90,
                 what="the worker to notice the root is gone")
        paused = store.job(job)
        assert paused["state"] == "running"
        assert {c["state"] for c in paused["chunk_list"][1:]} == {"queued"}
        assert all(c["state"] != "failed" for c in paused["chunk_list"])
    finally:
        hidden.rename(marker)
    record = farm.wait_job(job, timeout=120)
    assert record["state"] == "succeeded", farm.logs()
    assert "is back: taking work again" in farm.logs()
