"""A real farm for the tests: a redis-server of their own on a free port (append-only, with a
password) and real `latentfx worker` processes. Never touches a shared Redis."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from conftest import ROOT

PASSWORD = "farm-test-pw"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition, *, timeout: float, what: str, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


class RedisServer:
    def __init__(self, folder: Path, *extra: str):
        if shutil.which("redis-server") is None:
            raise RuntimeError("redis-server is not installed: the farm tests need it")
        self.folder, self.port = folder, free_port()
        self.extra = [str(a) for a in extra]  # more redis-server options (--maxmemory 8mb)
        self.process = None

    @property
    def url(self) -> str:
        return f"redis://:{PASSWORD}@127.0.0.1:{self.port}/0"

    def start(self) -> "RedisServer":
        self.folder.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--requirepass", PASSWORD, "--save", "", "--appendonly", "yes",
             "--appendfsync", "always", "--dir", str(self.folder), "--maxmemory-policy",
             "noeviction", *self.extra], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import redis

        client = redis.Redis.from_url(self.url)
        wait_for(lambda: _answers(client), timeout=10, what="redis-server to answer")
        return self

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()

    def client(self):
        """A plain client, for tests that set up states no command would produce."""
        import redis

        return redis.Redis.from_url(self.url, decode_responses=True)


def _answers(client) -> bool:
    try:
        return client.ping()
    except Exception:
        return False


class Farm:
    """Environment, storage root and workers around one redis-server."""

    def __init__(self, redis_server: RedisServer, storage: Path, **settings):
        self.redis, self.storage = redis_server, storage
        storage.mkdir(parents=True, exist_ok=True)
        self.env = {**os.environ, "LATENTFX_REDIS_URL": redis_server.url,
                    "LATENTFX_STORAGE": str(storage), "LATENTFX_SOFT_LIMIT": "60",
                    "LATENTFX_HARD_LIMIT": "90", "LATENTFX_VISIBILITY": "180",
                    # A long lease: the reconciler stays out of the way of Celery's own
                    # redelivery, so attempt counts are exact (its own test shortens it).
                    "LATENTFX_LEASE": "60", "LATENTFX_MAX_ATTEMPTS": "3",
                    "LATENTFX_CHUNK_FRAMES": "8", "OMP_NUM_THREADS": "1",
                    **{k: str(v) for k, v in settings.items()}}
        self.workers: list[subprocess.Popen] = []

    def start_worker(self, name: str = "w1") -> subprocess.Popen:
        log = self.storage.parent / f"{name}-{len(self.workers)}.log"
        process = subprocess.Popen(
            [sys.executable, "-c", "import cli; cli.main()", "worker", "--queues", "cpu",
             "-n", f"{name}@test", "--loglevel", "INFO"],
            cwd=ROOT, env=self.env, stdout=open(log, "w"), stderr=subprocess.STDOUT,
            start_new_session=True)
        process.log = log
        self.workers.append(process)
        wait_for(lambda: "ready." in log.read_text() or process.poll() is not None,
                 timeout=90, what=f"worker {name} to start")
        assert process.poll() is None, log.read_text()
        return process

    def stop_workers(self) -> None:
        for process in self.workers:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.workers.clear()

    def store(self):
        from workers.store import JobStore

        return JobStore.from_url(self.redis.url)

    def settings(self):
        from workers.settings import from_environment

        return from_environment(self.env)

    def wait_job(self, job: str, states=("succeeded", "failed", "cancelled"), timeout=120):
        store = self.store()
        record = wait_for(lambda: (lambda r: r if r["state"] in states else None)(store.job(job)),
                          timeout=timeout, what=f"job {job} to reach {states}", interval=0.1)
        return record

    def logs(self) -> str:
        return "\n".join(p.log.read_text() for p in self.workers)


def farm_with_workers(base: Path, *names: str, **settings):
    """A generator for a fixture: a farm in `base` with workers `names` running; everything
    stopped after."""
    server = RedisServer(base / "redis").start()
    farm = Farm(server, base / "storage", **settings)
    for name in names:
        farm.start_worker(name)
    yield farm
    farm.stop_workers()
    server.kill()
