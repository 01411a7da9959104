"""Liveness on a farm with a short lease (2 s): every running job and every assembly renews
its claim from a thread, and the reconciler hands work whose worker died to another one
long before Redis would redeliver it (its visibility timeout is 180 s here)."""

import time

import pytest

from farm_harness import farm_with_workers, wait_for
from test_farm import running_attempt, slow_walk_args, submit


@pytest.fixture(scope="module")
def farm(tmp_path_factory):
    yield from farm_with_workers(tmp_path_factory.mktemp("liveness"), "w1", LATENTFX_LEASE=2)


def test_a_whole_job_longer_than_the_lease_runs_once(farm):
    """`sample` never calls cancel(): without a heartbeat of its own the reconciler took it
    for lost after the lease and ran it again, up to the cap."""
    store = farm.store()
    job = submit(farm, "sample", "-n", 8, "--size", "512x512", "--device", "cpu",
                 "-o", "grid.png")
    record = farm.wait_job(job, timeout=120)
    assert record["state"] == "succeeded", farm.logs()
    took = float(record["finished"]) - float(record["started"])
    assert took > 2  # longer than the lease, or this test shows nothing
    assert [a["attempt"] for a in store.attempts(job)] == [1]


def test_an_assembly_whose_worker_died_is_assembled_again(farm, tiny_spatial_model):
    store = farm.store()
    job = submit(farm, "walk", "seed:1", "seed:2", "--frames", 60, "--size", "32x32",
                 "-m", tiny_spatial_model, "--device", "cpu", "-o", "assembled.mp4")
    wait_for(lambda: store.job(job).get("assembly_owner"), timeout=90,
             what="the assembly to start", interval=0.002)
    farm.stop_workers()  # the whole worker, mid-assembly
    assert store.job(job)["state"] == "running"
    farm.start_worker("w2")
    record = farm.wait_job(job, timeout=60)
    assert record["state"] == "succeeded", farm.logs()
    assert record["assembly_attempts"] == "2"


def test_a_whole_worker_lost_is_recovered_by_the_reconciler(farm):
    """A node lost mid-chunk: its message stays unacknowledged in Redis until the visibility
    timeout; the reconciler re-queues the chunk when its lease runs out."""
    store = farm.store()
    job = submit(farm, *slow_walk_args("node-lost.mp4"))
    wait_for(lambda: running_attempt(store, job, 1), timeout=90, what="chunk 1 to start",
             interval=0.002)
    started = time.monotonic()
    farm.stop_workers()  # SIGKILL to the whole process group: parent and pool process
    farm.start_worker("w3")
    record = farm.wait_job(job, timeout=120)
    assert record["state"] == "succeeded", farm.logs()
    assert time.monotonic() - started < 90  # long before Redis would have redelivered
    assert record["done"] == record["total"] == len(store.committed_frames(job))
