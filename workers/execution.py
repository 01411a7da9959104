"""What a worker does with a chunk or an assembly. The Celery tasks are thin wrappers around
these functions (a task is like a web view); the rendering itself is the pipelines'. These
functions take plain values and say what happened (a ChunkOutcome); they never touch the
Celery task or the broker: the task acts on the outcome."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import random
import shutil
import time
from pathlib import Path

import redis

from latentfx.errors import InputError, Interrupted, LatentfxError
from latentfx.io.atomic import atomic_path
from pipelines.registry import JOBS

from .identity import root_is_ours
from .liveness import Heartbeat
from .paths import check_inside, check_job_dir, check_spec
from .settings import FarmSettings
from .store import DamagedRecord, UnknownJob, chunk_failure, store_for

TRANSIENT = (OSError, ConnectionError, redis.RedisError)  # redis' own errors are neither
BACKOFF_BASE, BACKOFF_MAX = 2.0, 120.0
ROOT_CHECK_EVERY = 2.0  # seconds between looks at a storage root that lost its marker
log = logging.getLogger(__name__)


SLICE = 0.8  # of the soft time limit: how long one delivery of a resumable job runs


class Superseded(Exception):
    """Another delivery of this chunk owns it now; this one stops without writing."""


class SliceEnded(Exception):
    """A resumable job ran for its time slice and saved; a new delivery carries it on."""


@dataclasses.dataclass(frozen=True)
class Assembly:
    """A job whose chunks are all done: its assembly goes to the job's queue, at its
    priority."""
    job: str
    queue: str
    priority: int


@dataclasses.dataclass(frozen=True)
class Again:
    """A chunk to queue once more, in a new message (the next slice of a training run)."""
    job: str
    index: int
    queue: str
    priority: int


@dataclasses.dataclass(frozen=True)
class ChunkOutcome:
    """What one delivery of a chunk came to, for the task to act on."""
    result: str  # done, failed, cancelled, superseded, refused (paths), retrying; or what
                 # the claim found instead: skip (chunk ended), exhausted, unknown
    retry_after: float | None = None      # deliver the chunk again after this many seconds
    cause: BaseException | None = None    # the error a retry is for
    assembly: Assembly | None = None      # queue this assembly: the job's last chunk is done
    again: Again | None = None            # queue a new message for this chunk (a new slice)


def backoff(retries: int) -> float:
    """Exponential backoff with full jitter: spreads the retries of many chunks out."""
    return random.uniform(0, min(BACKOFF_MAX, BACKOFF_BASE * 2 ** retries))


def frames_dir(record: dict) -> Path:
    return Path(record["job_dir"]) / "frames"


def checked_frames_dir(record: dict, root: Path) -> Path:
    """The frames folder, refused (PathPolicyError) if it is a link out of its job folder:
    checked before every write, since anyone who can write to the share can swap it."""
    return check_inside(frames_dir(record), root / "jobs" / record["id"] / "frames",
                        what="frames folder")


def frame_file(record: dict, frame: int) -> Path:
    return frames_dir(record) / f"{frame:06d}.png"


def facts_file(record: dict) -> Path:
    """The prepared job's facts (pipelines.chunks.Prepared.facts), beside the frames: every
    chunk writes the same ones, and the assembly reads them."""
    return frames_dir(record) / "facts.json"


def _spec(record: dict):
    """The job's spec, as submit checked and recorded it (so not checked again)."""
    return JOBS[record["kind"]].spec_class.from_dict(record["spec"], source=f"job {record['id']}")


def _record(store, job: str, *, task: str) -> dict | None:
    """The job's record, or None (dead-lettered) when a message names no job of this farm
    or one whose record is damaged."""
    try:
        record = store.job(job)
    except (UnknownJob, DamagedRecord) as exc:
        store.dead_letter(str(exc), raw=job, source="worker", task=task)
        return None
    if record.get("id") != job:
        store.dead_letter(f"job {job}: its record names itself {record.get('id')!r}",
                          raw=job, source="worker", task=task)
        return None
    return record


def _allowed(store, settings, record: dict, *, chunk: int | None = None) -> bool:
    """The worker checks the spec's paths again (anyone who can write to the broker can call
    a task); a refused job fails with the reason, and nothing of it runs."""
    try:
        root = settings.storage_root()
        check_job_dir(record["id"], record["job_dir"], root)
        check_spec(JOBS[record["kind"]].spec_class, record["spec"], root)
    except LatentfxError as exc:  # PathPolicyError, or no storage root on this worker
        store.fail_job(record["id"], str(exc), chunk=chunk)
        return False
    return True


def wait_for_root(store, settings: FarmSettings) -> bool:
    """Hold the work until the storage root holds the farm's marker again (a share unmounted
    under a running worker): nothing is claimed meanwhile, so no job fails for it and this
    worker takes no other message. False when it did not come back within most of the soft
    time limit: the message goes back to the queue then."""
    root, known = settings.storage_root_path(), store.farm_id()
    if known is None:  # Redis lost its keys (a reset): the worker's start checked the root
        return True
    deadline = time.monotonic() + 0.8 * settings.soft_limit
    warned = 0.0
    while not root_is_ours(root, known):
        if time.monotonic() > deadline:
            return False
        if time.monotonic() - warned > 60:
            log.error("storage root %s no longer holds this farm's marker (farm %s): the share "
                      "is unmounted or replaced; taking no work until it is back", root, known)
            warned = time.monotonic()
        time.sleep(ROOT_CHECK_EVERY)
    if warned:
        log.warning("storage root %s is back: taking work again", root)
    return True


# -- chunks -----------------------------------------------------------------------------------

def run_chunk(settings: FarmSettings, job: str, index: int, *, worker: str,
              retries: int) -> ChunkOutcome:
    """Claim chunk `index` of `job`, render it and commit it. `worker` names this worker in
    the job record; `retries` is how often this chunk's message was already retried."""
    store = store_for(settings.redis_url)
    if not wait_for_root(store, settings):
        return ChunkOutcome("paused", retry_after=backoff(retries))
    record = _record(store, job, task=f"chunk {index}")
    if record is None or not _allowed(store, settings, record, chunk=index):
        return ChunkOutcome("refused")
    kind = JOBS[record["kind"]]
    claim = store.claim(job, index, worker=worker, pid=os.getpid(),
                        lease_seconds=settings.lease_seconds, max_attempts=settings.max_attempts)
    if claim.outcome != "claimed":
        return _settled(store, job, ChunkOutcome(claim.outcome))
    chunk = store.chunk(job, index)
    try:
        # The lease is renewed for as long as the chunk runs, whatever the job does meanwhile.
        with _heartbeat(settings, lambda lease: store.heartbeat(job, index, claim.token,
                                                                lease)) as beat:
            if kind.chunked:
                _render_frames(store, settings, record, chunk, claim.token, beat)
            else:
                _run_whole(store, settings, record, chunk, claim.token, beat)
    except Superseded:
        return ChunkOutcome("superseded")
    except SliceEnded:
        if not store.set_aside(job, index, claim.token):
            return ChunkOutcome("superseded")
        return ChunkOutcome("sliced", again=Again(job, index, record["queue"],
                                                  record["priority"]))
    except Interrupted:
        store.end_attempt(job, index, claim.token, "cancelled", "cancelled")
        return _settled(store, job, ChunkOutcome("cancelled"))
    except InputError as exc:  # bad input: retrying cannot help
        store.end_attempt(job, index, claim.token, "failed", str(exc))
        return _settled(store, job, ChunkOutcome("failed"))
    except Exception as exc:
        return _retry_or_fail(store, settings, job, index, claim.token, exc, retries=retries)
    assembly = None
    if store.finish(job, index, claim.token) == "assemble":
        if kind.chunked:
            assembly = Assembly(job, record["queue"], record["priority"])
        else:
            store.finish_job(job, "succeeded", output=record["spec"]["output"])
    # The last chunk to end settles a job that another chunk failed.
    return _settled(store, job, ChunkOutcome("done", assembly=assembly))


def _retry_or_fail(store, settings, job: str, index: int, token: str, exc: Exception, *,
                   retries: int) -> ChunkOutcome:
    """Transient trouble and out-of-memory go back in the queue (backoff with jitter; OOM
    also halves the batch); anything else is a failure with its message kept."""
    from latentfx.runtime.oom import is_out_of_memory  # brings torch: only when a chunk failed

    out_of_memory = is_out_of_memory(exc)
    if not (out_of_memory or isinstance(exc, TRANSIENT)) or retries + 1 >= settings.max_attempts:
        store.end_attempt(job, index, token, "failed", f"{type(exc).__name__}: {exc}")
        return _settled(store, job, ChunkOutcome("failed"))
    if out_of_memory and not JOBS[store.job(job)["kind"]].resumes:
        # A training run keeps its batch (its checkpoint and learning rate go with it).
        spec = store.job(job)["spec"]
        spec["batch"] = max(1, int(spec.get("batch", 8)) // 2)
        store.set_spec(job, spec)
    if not store.end_attempt(job, index, token, "queued",
                             f"retrying after {type(exc).__name__}: {exc}"):
        return ChunkOutcome("superseded")  # another delivery owns the chunk: it carries on
    return ChunkOutcome("retrying", retry_after=backoff(retries), cause=exc)


def _heartbeat(settings: FarmSettings, renew) -> Heartbeat:
    """Renew a claim (`renew(lease_seconds) -> still ours`) every third of its lease."""
    lease = settings.lease_seconds
    return Heartbeat(lambda: renew(lease), every=lease / 3)


def _render_frames(store, settings, record: dict, chunk: dict, token: str,
                   beat: Heartbeat) -> None:
    from PIL import Image

    job, index = record["id"], chunk["index"]
    module = JOBS[record["kind"]].module
    spec = _spec(record)
    root = settings.storage_root()
    folder = frames_dir(record)
    folder.mkdir(exist_ok=True)
    checked_frames_dir(record, root)
    committed = store.committed_frames(job)
    todo = [f for f in range(chunk["start"], chunk["stop"]) if f not in committed]
    if not todo:
        return
    partial = f".{token[:12]}.partial.png"
    # This delivery owns the chunk now: half-written frames left by a killed one go.
    for frame in range(chunk["start"], chunk["stop"]):
        for leftover in folder.glob(f".{frame:06d}.*.partial.png"):
            leftover.unlink(missing_ok=True)

    def write(frame: int, pixels) -> None:
        # Checked between frames: cancel, and whether this delivery still owns the chunk.
        if store.cancel_requested(job):
            raise Interrupted(f"job {job} cancelled at frame {frame}")
        if frame in committed:
            return
        checked_frames_dir(record, root)
        tmp = folder / f".{frame:06d}{partial}"
        Image.fromarray(pixels).save(tmp, format="PNG", compress_level=1)
        try:
            os.replace(tmp, frame_file(record, frame))
        except FileNotFoundError:  # swept by a newer delivery of this chunk
            raise Superseded() from None
        if store.commit_frame(job, index, token, frame) < 0 or beat.lost:
            raise Superseded()

    prepared, facts = _prepared(module, spec)
    with atomic_path(facts_file(record)) as tmp:  # before any frame: assembly needs them
        tmp.write_text(json.dumps(facts))
    try:
        module.render_frames(prepared, todo[0], chunk["stop"], write=write)
    finally:
        for leftover in folder.glob(f"*{partial}"):
            leftover.unlink(missing_ok=True)


_PREPARED: dict[str, object] = {}


def _prepared(module, spec) -> tuple[object, dict]:
    """A worker process renders many chunks of the same walk: load and prepare it once.
    (prepared job, its facts as preparing left them, before any chunk added notes)."""
    key = json.dumps(spec.to_dict(), sort_keys=True, default=str)
    if key not in _PREPARED:
        _PREPARED.clear()
        prepared = module.prepare(spec)
        _PREPARED[key] = prepared, prepared.facts()
    return _PREPARED[key]


def _run_whole(store, settings, record: dict, chunk: dict, token: str,
               beat: Heartbeat) -> None:
    job = record["id"]
    kind = JOBS[record["kind"]]
    spec = _spec(record)
    # A resumable job (training) may outlast the time limits: it runs in slices, each
    # stopping (with a checkpoint) before the soft limit, the next carrying on from it, as
    # a delivery after a lost worker does.
    if kind.resumes:
        spec = kind.module.continued(spec)
    slice_ends = time.monotonic() + SLICE * settings.soft_limit
    sliced = {"ended": False}

    def cancel() -> bool:
        if beat.lost:
            raise Superseded()
        if store.cancel_requested(job):
            return True
        sliced["ended"] = kind.resumes and time.monotonic() > slice_ends
        return sliced["ended"]

    def owns(note: dict) -> None:
        if not store.note_progress(job, chunk["index"], token, note) or beat.lost:
            raise Superseded()

    try:
        kind.module.run(spec, cancel=cancel, progress=ProgressNote(owns))
    except Interrupted:
        if sliced["ended"]:
            raise SliceEnded() from None
        raise
    store.commit_frame(job, chunk["index"], token, 0)


class ProgressNote:
    """A pipeline's progress(done, total, message) as the job's note in the store, with the
    ETA at this delivery's pace; written at most every `every` seconds (and at each phase's
    end), through `write(note)`."""

    def __init__(self, write, *, every: float = 1.0, clock=time.monotonic):
        self.write, self.every, self.clock = write, every, clock
        self.phase: tuple | None = None  # (total, done, when) where the current phase began
        self.written = float("-inf")

    def __call__(self, done: int, total: int, message: str = "") -> None:
        now = self.clock()
        if self.phase is None or self.phase[0] != total or done < self.phase[1]:
            self.phase = (total, done, now)  # a new phase (or a phase begun again)
        if now - self.written < self.every and done < total:
            return
        _, first, since = self.phase
        rate = (done - first) / (now - since) if now > since and done > first else 0.0
        eta = round((total - done) / rate, 1) if rate else None
        self.written = now
        self.write({"done": done, "total": total, "message": message, "eta_seconds": eta})


# -- the fan-in and assembly ------------------------------------------------------------------

def assemble(settings: FarmSettings, job: str) -> str:
    """Encode a job's committed frames into its output; returns what came of it (the job's
    state, or what the claim found: skip, busy, exhausted, refused)."""
    store = store_for(settings.redis_url)
    if not wait_for_root(store, settings):
        return "paused"
    record = _record(store, job, task="assembly")
    if record is None or not _allowed(store, settings, record):
        return "refused"
    claim = store.claim_assembly(job, lease_seconds=settings.lease_seconds,
                                 max_attempts=settings.max_attempts)
    if claim.outcome != "claimed":
        return claim.outcome
    with _heartbeat(settings, lambda lease: store.heartbeat_assembly(job, claim.token, lease)):
        return _assemble_claimed(store, settings, record, claim.token)


def _assemble_claimed(store, settings, record: dict, token: str) -> str:
    job, kind = record["id"], JOBS[record["kind"]]
    try:
        checked_frames_dir(record, settings.storage_root())
    except LatentfxError as exc:
        store.fail_job(job, str(exc))
        return "refused"
    files = [frame_file(record, f) for f in range(record["total"])]
    missing = [f.name for f in files + [facts_file(record)] if not f.exists()]
    if missing or len(store.committed_frames(job)) != record["total"]:
        store.fail_job(job, f"assembly found {len(missing)} file(s) missing from "
                            f"{frames_dir(record)}, e.g. {missing[:3]}")
        return "failed"
    try:
        kind.module.assemble(_spec(record), files,
                             facts=json.loads(facts_file(record).read_text()),
                             cancel=lambda: store.cancel_requested(job))
    except Interrupted:
        return "cancelled"
    except Exception as exc:  # whatever stops the assembly, the job must not hang 'running'
        store.fail_job(job, f"assembly failed: {type(exc).__name__}: {exc}")
        if isinstance(exc, LatentfxError):
            return "failed"
        raise
    if not store.succeed(job, token, record["spec"]["output"]):
        return "superseded"  # another delivery took the assembly over: it finishes the job
    shutil.rmtree(frames_dir(record), ignore_errors=True)  # the video holds them now
    return "succeeded"


def settle(store, job: str) -> None:
    """Once no chunk can still run, a job with a failed chunk is failed."""
    record = store.job(job)
    if record["state"] == "failed":
        store.finish_job(job, "failed", error=chunk_failure(record))


def _settled(store, job: str, outcome: ChunkOutcome) -> ChunkOutcome:
    settle(store, job)
    return outcome
