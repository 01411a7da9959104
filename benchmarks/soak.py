"""A soak of the farm: N mixed jobs on a real redis-server and real workers, a worker killed
(SIGKILL to its whole process group) every --kill-every seconds and replaced, and one Redis
restart (append-only file) half way; it ends when every job has ended, and compares each
farm output byte for byte with the same job rendered locally.

    python benchmarks/soak.py [--jobs 50] [--workers 2] [--kill-every 20]

Prints one line per job (state, attempts, identical or not), the kills, the restart and the
time taken; exits 1 unless every job succeeded and matches. Not part of the test suite (it
runs for minutes)."""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from farm_harness import Farm, RedisServer  # noqa: E402  (the tests' real farm)


SAMPLES = sorted((ROOT / "latentfx" / "samples").glob("*.jpg"))


def job_args(n: int) -> list[str]:
    """Mixed jobs: walks of several lengths (chunked, assembled, some through photos that
    are staged at submit), samples and reconstructions (whole jobs)."""
    if n % 4 == 1:
        return ["sample", "-n", "4", "--size", "64x64", "--seed", str(n), "--device", "cpu",
                "-o", f"job{n}.png"]
    if n % 4 == 3:
        return ["reconstruct", str(SAMPLES[n % len(SAMPLES)]), "--max-side", "96",
                "--device", "cpu", "-o", f"job{n}.png"]
    keys = [f"seed:{n}", str(SAMPLES[n % len(SAMPLES)]), f"seed:{n + 2}"] if n % 8 == 2 else \
        [f"seed:{n}", f"seed:{n + 1}", f"seed:{n + 2}"]
    return ["walk", *keys, "--frames", str(10 + 6 * (n % 7)), "--size", "64x64",
            "--device", "cpu", "-o", f"job{n}.mp4"]


def cli(args: list[str], env: dict, cwd: Path) -> str:
    done = subprocess.run([sys.executable, "-c", "import cli; cli.main()", *args], cwd=cwd,
                          env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True,
                          text=True, check=True)
    return done.stdout.strip().splitlines()[0] if done.stdout.strip() else ""


def killer(farm: Farm, every: float, stop: threading.Event, kills: list,
           started: float) -> None:
    while not stop.wait(every):
        victim = random.choice([p for p in farm.workers if p.poll() is None])
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait()
        kills.append(time.monotonic())
        print(f"killed a worker after {kills[-1] - started:.0f} s", flush=True)
        farm.start_worker(f"r{len(kills)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--kill-every", type=float, default=20.0)
    opts = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="latentfx-soak-"))
    server = RedisServer(base / "redis").start()
    farm = Farm(server, base / "storage", LATENTFX_LEASE=5)
    started = time.monotonic()
    for w in range(opts.workers):
        farm.start_worker(f"w{w}")
    # The killing starts with the first submit: the farm renders while jobs still arrive.
    stop, kills = threading.Event(), []
    thread = threading.Thread(target=killer, args=(farm, opts.kill_every, stop, kills,
                                                      started))
    thread.start()
    # Submitted four at a time, so a backlog builds and the kills land on busy workers.
    with ThreadPoolExecutor(4) as pool:
        ids = pool.map(lambda n: cli([*job_args(n), "--submit", "--queue", "cpu"], farm.env,
                                     ROOT), range(opts.jobs))
        jobs = dict(enumerate(ids))
    print(f"{len(jobs)} jobs submitted after {time.monotonic() - started:.0f} s", flush=True)
    store = farm.store()
    restarted = False
    try:
        while True:
            records = {n: store.job(job) for n, job in jobs.items()}
            ended = [r for r in records.values() if r["state"] in ("succeeded", "failed",
                                                                   "cancelled")]
            if not restarted and len(ended) >= len(jobs) / 2:
                server.kill()
                server.start()  # same port and folder: the append-only file is read back
                restarted = True
                store = farm.store()
                print(f"redis restarted after {time.monotonic() - started:.0f} s", flush=True)
            if len(ended) == len(jobs):
                break
            time.sleep(1)
    finally:
        stop.set()
        thread.join()
        farm.stop_workers()
        server.kill()
    local = base / "local"
    local.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LATENTFX_")}
    env["OMP_NUM_THREADS"] = "1"
    good = redelivered = 0
    for n, record in records.items():
        args = job_args(n)
        out = args.index("-o") + 1
        target = local / args[out]
        cli([*args[:out], str(target), *args[out + 1:]], env, ROOT)
        farm_output = Path(record.get("output") or "")
        same = farm_output.is_file() and farm_output.read_bytes() == target.read_bytes()
        attempts = sum(c["attempts"] for c in record["chunk_list"])
        good += record["state"] == "succeeded" and same
        redelivered += attempts - len(record["chunk_list"])
        print(f"job {n} ({args[0]}, {record['total']} frames): {record['state']}, "
              f"{len(record['chunk_list'])} chunk(s) in {attempts} deliveries, "
              f"{'identical to' if same else 'DIFFERS from'} the local render")
    print(f"{len(kills)} worker(s) killed, {redelivered} chunk(s) delivered again, "
          f"redis restarted: {restarted}, "
          f"{time.monotonic() - started:.0f} s; {good}/{len(jobs)} succeeded and identical")
    return 0 if good == len(jobs) else 1


if __name__ == "__main__":
    sys.exit(main())
