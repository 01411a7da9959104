"""What the job record says against a real Redis: the cap's message names the real cause, a
finished chunk keeps no stale 'retrying after' error, and `doctor` reports Redis'
persistence and eviction policy and the storage root's marker."""

import pytest

from farm_harness import farm_with_workers
from test_farm import invoke


@pytest.fixture(scope="module")
def farm(tmp_path_factory):
    yield from farm_with_workers(tmp_path_factory.mktemp("records"))  # no workers: scripted


def new_job(store) -> str:
    job = store.new_id()
    store.create(job, kind="walk", spec={}, ranges=[(0, 8)], total=8, queue="cpu",
                 priority=5, job_dir="/nowhere", model_id=None)
    return job


def claim(store, job, *, worker="w1@test", pid=100, lease=60):
    return store.claim(job, 0, worker=worker, pid=pid, lease_seconds=lease, max_attempts=1)


def test_a_duplicate_delivery_past_the_cap_is_called_one(farm):
    store = farm.store()
    job = new_job(store)
    assert claim(store, job).outcome == "claimed"
    assert claim(store, job, worker="w2@test").outcome == "exhausted"  # the first still holds it
    error = store.chunk(job, 0)["error"]
    assert "duplicate deliveries" in error and "worker was lost" not in error


def test_a_killed_pool_process_and_a_lost_worker_are_named_so(farm):
    store = farm.store()
    job = new_job(store)
    claim(store, job)
    claim(store, job, pid=101)  # the same worker, another process: the first one died
    assert "worker process died every time" in store.chunk(job, 0)["error"]
    job = new_job(store)
    claim(store, job, lease=-1)  # a claim whose lease ran out: its worker vanished
    claim(store, job, worker="w2@test")
    assert "its worker was lost every time" in store.chunk(job, 0)["error"]


def test_the_cap_after_errors_names_the_last_error(farm):
    store = farm.store()
    job = new_job(store)
    first = claim(store, job)
    store.end_attempt(job, 0, first.token, "queued", "retrying after OSError: disk away")
    claim(store, job)
    assert store.chunk(job, 0)["error"] == ("gave up after 1 deliveries: the last one ended "
                                             "with OSError: disk away")


def test_a_chunk_that_finished_after_a_retry_shows_no_error(farm):
    from workers.control import status

    store = farm.store()
    job = new_job(store)
    first = store.claim(job, 0, worker="w", pid=1, lease_seconds=60, max_attempts=3)
    store.end_attempt(job, 0, first.token, "queued", "retrying after OSError: disk away")
    second = store.claim(job, 0, worker="w", pid=1, lease_seconds=60, max_attempts=3)
    store.finish(job, 0, second.token)
    assert store.chunk(job, 0)["error"] == ""
    assert status(store, job)["error"] is None


def test_doctor_reports_persistence_eviction_and_the_marker(farm):
    client = farm.redis.client()
    ok = invoke(farm, "doctor")
    assert "persistence: append-only file" in ok.output
    assert "eviction:   noeviction" in ok.output
    assert "marker:     " in ok.output and "PROBLEM" not in ok.output, ok.output
    client.config_set("appendonly", "no")
    client.config_set("maxmemory-policy", "allkeys-lru")
    client.set("lfx:farm", "a" * 32)
    (farm.storage / ".latentfx-farm").write_text("f" * 32 + "\n")
    try:
        bad = invoke(farm, "doctor")
        assert bad.exit_code != 0
        assert "persistence: PROBLEM: neither AOF nor RDB saving" in bad.output
        assert "eviction:   PROBLEM: allkeys-lru" in bad.output
        assert "belongs to farm ffff" in bad.output
    finally:
        client.config_set("appendonly", "yes")
        client.config_set("maxmemory-policy", "noeviction")
        client.delete("lfx:farm")
