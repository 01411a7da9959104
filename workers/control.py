"""The farm verbs behind `latentfx jobs / status / cancel / retry / fetch / worker / doctor`:
plain functions over the farm's settings and job store that do the work and return what
happened; the CLI only prints it. They read our job record only, never Celery's results."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from latentfx.errors import LatentfxError

from pipelines.registry import JOBS

from .app import get_app
from .broker import waiting_task_ids
from .execution import frame_file
from .identity import check_farm, ensure_farm, marker_of
from .queueing import enqueue_assembly, enqueue_chunks
from .settings import FarmSettings, from_environment
from .store import CHUNK_STATES, ENDED, DamagedRecord, JobStore

DAMAGED = "damaged"  # the state shown for a record that cannot be read: it will not change


class JobStillRunning(LatentfxError):
    """The job has not ended yet, and the verb needs one that has."""


class JobNotSucceeded(LatentfxError):
    """The job has no outputs to hand out: it did not succeed."""


def connect(env: dict | None = None) -> tuple[FarmSettings, JobStore]:
    """(settings, job store), from the environment."""
    settings = from_environment(env)
    return settings, JobStore.from_url(settings.redis_url)


# -- reading ----------------------------------------------------------------------------------

def job_summary(record: dict) -> dict:
    """What `status --json` prints for a job record (JobStore.job)."""
    chunks = record["chunk_list"]
    elapsed = time.time() - float(record.get("started") or time.time())
    rate = record["done"] / elapsed if elapsed > 0 and record["done"] else 0.0
    remaining = (record["total"] - record["done"]) / rate if rate else None
    errors = [c["error"] for c in chunks if c.get("error")]
    note = record.get("note")  # the job's own account (a training run's step and loss)
    if note and record["state"] == "running":
        remaining = note.get("eta_seconds")
    return {
        "id": record["id"], "kind": record["kind"], "state": record["state"],
        "progress": round(record["done"] / record["total"], 4) if record["total"] else 0.0,
        "done": record["done"], "total": record["total"],
        "eta_seconds": None if remaining is None or record["state"] != "running"
        else round(remaining, 1),
        "chunks": {state: sum(c["state"] == state for c in chunks) for state in CHUNK_STATES},
        "attempts": sum(c["attempts"] for c in chunks),
        "workers": sorted({c["worker"] for c in chunks if c.get("worker")}),
        "created": float(record["created"]), "queue": record["queue"],
        "priority": record["priority"], "output": record.get("output") or None,
        "error": record.get("error") or (errors[-1] if errors else None),
        "job_dir": record["job_dir"], "note": note,
    }


def damaged_summary(damage: DamagedRecord) -> dict:
    """What `status` shows for a record that cannot be read: the same keys, and the reason."""
    return {"id": damage.job, "kind": "?", "state": DAMAGED, "progress": 0.0, "done": 0,
            "total": 0, "eta_seconds": None, "chunks": {s: 0 for s in CHUNK_STATES},
            "attempts": 0, "workers": [], "created": None, "queue": None, "priority": None,
            "output": None, "error": str(damage), "job_dir": None, "note": None}


def status(store: JobStore, job: str) -> dict:
    try:
        return job_summary(store.job(job))
    except DamagedRecord as damage:
        return damaged_summary(damage)


def recent_jobs(store: JobStore, limit: int) -> list[dict]:
    """Summaries of the newest `limit` jobs, newest first."""
    return [status(store, job) for job in store.job_ids(limit)]


def follow(store: JobStore, job: str, *, every: float = 0.5) -> Iterator[dict]:
    """The job's summary now, then again every `every` seconds until the job has ended; the
    last one yielded is the ended job's."""
    summary = status(store, job)
    yield summary
    while summary["state"] not in (*ENDED, DAMAGED):
        time.sleep(every)
        summary = status(store, job)
        yield summary


# -- acting -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Cancelled:
    job: str
    already_ended: str | None  # the state it had ended in: then nothing was done
    revoked: int = 0           # queued chunks marked cancelled (never started)


def cancel(settings: FarmSettings, store: JobStore, job: str) -> Cancelled:
    """Queued chunks never start (they are marked cancelled, and a delivery of one skips
    it); running ones stop at their next frame (they check the job's cancel flag)."""
    state = store.job(job)["state"]  # also ended when its chunks failed, not yet settled
    if state in ENDED:
        return Cancelled(job, already_ended=state)
    ended, stopped = store.cancel(job)  # at once: a job that ends meanwhile stays as it ended
    if ended:
        return Cancelled(job, already_ended=ended)
    return Cancelled(job, already_ended=None, revoked=len(stopped))


@dataclass(frozen=True)
class Retried:
    job: str
    chunks: list[int]       # the chunks queued again
    assembly: bool = False  # every chunk had finished: only the assembly was queued again

    @property
    def nothing_to_do(self) -> bool:
        return not self.chunks and not self.assembly


def retry(settings: FarmSettings, store: JobStore, job: str) -> Retried:
    """Queue a job's unfinished chunks again: an ended job's failed and cancelled ones, and a
    stalled job's queued ones whose messages are lost; chunks recorded done whose frames are
    gone from disk too. A job whose chunks are all done gets its assembly again. A
    succeeded job is left as it is; a job with work under way is refused."""
    record = store.job(job)
    if record["state"] not in ENDED and not stalled(record, store):
        raise JobStillRunning(f"job {job} is {record['state']} with work under way; retry it "
                              f"once it has ended (or stalled: nothing running, no message "
                              f"waiting)")
    if record["state"] == "succeeded":
        return Retried(job, [])
    redone = [index for index, frames in frames_missing(record).items()
              if store.redo(job, index, frames)]
    again = [c["index"] for c in record["chunk_list"] if c["state"] != "done"] + redone
    app = get_app(settings)
    store.reopen(job)
    again = [index for index in sorted(again) if store.requeue_unfinished(job, index)]
    placement = dict(queue=record["queue"], priority=record["priority"])
    enqueue_chunks(app, store, job, again, **placement)
    if not again:  # only the assembly failed, was cancelled or was lost
        enqueue_assembly(app, job, **placement)
    return Retried(job, again, assembly=not again)


def stalled(record: dict, store: JobStore) -> bool:
    """A job that has not ended but will not move: no chunk or assembly holds a live lease
    and no message of its chunks waits in the broker."""
    now = time.time()
    if float(record.get("assembly_lease") or 0) > now:
        return False
    if any(c["state"] == "running" and c["lease"] > now for c in record["chunk_list"]):
        return False
    waiting = waiting_task_ids(store.client, record["queue"])
    return not any(c.get("task_id") in waiting for c in record["chunk_list"]
                   if c["state"] == "queued")


def frames_missing(record: dict) -> dict[int, list[int]]:
    """Chunks recorded done whose frame files are not on disk: {chunk: missing frames}. A
    record says what was committed; only the disk says what is still there."""
    if not JOBS[record["kind"]].chunked:
        return {}
    found = {}
    for c in record["chunk_list"]:
        gone = [f for f in range(c["start"], c["stop"]) if not frame_file(record, f).exists()]
        if c["state"] == "done" and gone:
            found[c["index"]] = gone
    return found


def fetch(store: JobStore, job: str, folder: str | Path) -> list[Path]:
    """Copy a succeeded job's outputs and manifests from the storage root into `folder`
    (created if needed); returns what was written there. A cancelled job hands out what it
    kept (a training run its last model and run folder)."""
    record = store.job(job)
    source, target = Path(record["job_dir"]) / "out", Path(folder)
    kept = record["state"] == "cancelled" and source.is_dir() and any(source.iterdir())
    if kept and any(c["state"] == "running" for c in record["chunk_list"]):
        raise JobStillRunning(f"job {job} is cancelled and still stopping (saving what it "
                              f"keeps); fetch it again in a moment")
    if record["state"] != "succeeded" and not kept:
        raise JobNotSucceeded(f"job {job} is {record['state']}; only a succeeded job's "
                              f"outputs (or what a cancelled one kept) can be fetched (see "
                              f"`latentfx status {job}`)")
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for item in sorted(source.iterdir()):
        destination = target / item.name
        if item.is_dir():
            shutil.copytree(item, destination, dirs_exist_ok=True)
        else:
            shutil.copy2(item, destination)
        written.append(destination)
    return written


# -- workers and the farm's health ------------------------------------------------------------

def run_worker(settings: FarmSettings, *, queues: list[str], concurrency: int, name: str,
               loglevel: str) -> None:
    """Run a worker in this process until it is stopped."""
    # Refuse to start without shared storage, or with a folder that is not this farm's.
    ensure_farm(settings.storage_root(), JobStore.from_url(settings.redis_url))
    app = get_app(settings)
    app.worker_main(["worker", "-Q", ",".join(queues), "-c", str(concurrency), "-P", "prefork",
                     "-n", name, "--loglevel", loglevel, "--without-gossip",
                     "--without-mingle", "-E"])


def redis_problem(settings: FarmSettings) -> str | None:
    """Why Redis does not answer, or None when it does."""
    try:
        JobStore.from_url(settings.redis_url, timeout=3).ping()
    except Exception as exc:  # any failure to reach Redis is the finding itself
        return f"{type(exc).__name__}: {exc}"
    return None


def redis_safety(settings: FarmSettings) -> dict[str, tuple[bool, str]]:
    """{'persistence': (ok, what), 'eviction': (ok, what)}: whether a Redis restart keeps
    the jobs (AOF or RDB saving on) and whether Redis may evict job records under memory
    pressure (any policy but noeviction)."""
    client = JobStore.from_url(settings.redis_url, timeout=3).client
    try:
        config = {**client.config_get("appendonly"), **client.config_get("save"),
                  **client.config_get("maxmemory-policy")}
    except Exception as exc:  # CONFIG renamed away or denied to this user: say so
        reason = f"cannot read Redis' configuration ({type(exc).__name__}: {exc})"
        return {"persistence": (False, reason), "eviction": (False, reason)}
    kinds = [k for k, on in (("append-only file", config.get("appendonly") == "yes"),
                             (f"RDB snapshots (save {config.get('save')})",
                              bool(config.get("save", "").strip()))) if on]
    persistence = ((True, " and ".join(kinds)) if kinds else
                   (False, "neither AOF nor RDB saving is configured: a Redis restart loses "
                           "every job; set appendonly yes (or a save rule)"))
    policy = config.get("maxmemory-policy", "?")
    eviction = ((True, policy) if policy == "noeviction" else
                (False, f"{policy}: Redis may evict job records when memory runs short; set "
                        f"maxmemory-policy noeviction"))
    return {"persistence": persistence, "eviction": eviction}


def marker_problem(settings: FarmSettings) -> tuple[bool, str]:
    """(ok, what) for the storage root's farm marker against the id Redis holds."""
    root, store = settings.storage_root(), JobStore.from_url(settings.redis_url, timeout=3)
    known = store.farm_id()
    if known is None:
        marked = marker_of(root)
        return True, (f"farm {marked} (Redis has lost its id: the next start gives it back)"
                      if marked else "none yet (made at the first submit or worker start)")
    try:
        check_farm(root, store, known=known)
    except LatentfxError as exc:
        return False, str(exc)
    return True, f"farm {known}"


def refused_items(settings: FarmSettings, limit: int = 3) -> tuple[int, list[dict]]:
    """How many messages and records the workers refused (the dead-letter list), and the
    newest `limit` of them."""
    store = JobStore.from_url(settings.redis_url, timeout=3)
    return store.dead_letter_count(), store.dead_letters(limit)


def answering_workers(settings: FarmSettings) -> list[str]:
    """The names of the workers running now: each renews a key in Redis every few seconds
    (Celery's remote control, which `ping` needs, is off: workers.app)."""
    return JobStore.from_url(settings.redis_url, timeout=3).live_workers()
