"""Redis refusing writes (out of memory under noeviction) or away for a while pauses a
worker instead of ending it ("Unrecoverable error: OutOfMemoryError"): it keeps running,
retries with backoff, and once Redis takes writes again the job completes."""

import time

import pytest
import redis

from farm_harness import Farm, RedisServer, wait_for
from test_farm import invoke, submit


@pytest.fixture()
def farm(tmp_path):
    server = RedisServer(tmp_path / "redis", "--maxmemory", "20mb").start()
    farm = Farm(server, tmp_path / "storage", LATENTFX_LEASE=2)
    yield farm
    farm.stop_workers()
    server.kill()


def fill_until_refused(client) -> int:
    """Writes filler keys until Redis answers OOM; returns how many it took."""
    block = "x" * 256_000
    for n in range(10_000):
        try:
            client.set(f"filler:{n}", block)
        except redis.exceptions.OutOfMemoryError:
            return n
    raise AssertionError("Redis never ran out of memory")


def test_a_worker_survives_redis_out_of_memory_and_the_job_completes(farm, tiny_spatial_model):
    client = farm.redis.client()
    job = submit(farm, "walk", "seed:1", "seed:2", "--frames", 12, "--size", "32x32",
                 "-m", tiny_spatial_model, "--device", "cpu", "-o", "oom.mp4")
    assert fill_until_refused(client) > 0
    worker = farm.start_worker("w1")
    wait_for(lambda: "OutOfMemoryError" in farm.logs() or worker.poll() is not None,
             timeout=60, what="the worker to meet Redis' refusal")
    time.sleep(3)  # long enough for the old worker to have exited on it
    assert worker.poll() is None, farm.logs()
    assert "Unrecoverable error" not in farm.logs()
    assert invoke(farm, "status", job).exit_code == 0  # reading still works
    client.delete(*client.keys("filler:*"))
    # The worker's next try may be one full backoff (up to 30 s) away, and Celery's consumer
    # reconnects with its own: generous, for a busy machine.
    record = farm.wait_job(job, timeout=300)
    assert record["state"] == "succeeded", farm.logs()
    assert worker.poll() is None
