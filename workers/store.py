"""The farm's job record, in Redis under our own keys (DESIGN §4).

    lfx:jobs                      zset  job id -> creation time
    lfx:active                    set   jobs not yet finished (what the reconciler scans)
    lfx:job:{id}                  hash  kind, spec (JSON), state, total, done, chunks, note, ...
    lfx:job:{id}:chunk:{i}        hash  state, start, stop, attempts, owner, lease, worker, ...
    lfx:job:{id}:frames           set   committed frame numbers (each committed once)
    lfx:job:{id}:finished         set   finished chunk numbers (the fan-in)
    lfx:job:{id}:assemble         str   set once, by whoever completes the set
    lfx:job:{id}:attempts         list  one JSON record per delivery of a chunk
    lfx:reconciler                str   a lock: one reconciler sweeps at a time
    lfx:dead                      list  messages and records refused, newest first, capped

Every transition that depends on who owns a chunk runs as one Lua script, so it is atomic:
each delivery of a chunk claims it with a fresh token, and only the current owner may
heartbeat, commit frames or finish it. A redelivered copy running beside the original finds
itself superseded and stops.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import redis
from redis.backoff import EqualJitterBackoff
from redis.retry import Retry

from latentfx.errors import InputError

log = logging.getLogger(__name__)
PREFIX = "lfx"
WORKERS = f"{PREFIX}:worker:"  # + a worker's name: it is running (a key with a short TTL)
FARM_ID = f"{PREFIX}:farm"  # the farm id, also in the storage root's marker
STATES = ("queued", "running", "succeeded", "failed", "cancelled")
ENDED = ("succeeded", "failed", "cancelled")  # a job in one of these states will not change
CHUNK_STATES = ("queued", "running", "done", "failed", "cancelled")
MAX_CHUNKS = 10_000  # what a record may claim: 480,000 frames at the default chunk size
JOB_ID = re.compile(r"[0-9a-f]{12}")  # what new_id makes: nothing else names a job
DEAD_LETTERS = f"{PREFIX}:dead"
DEAD_LETTERS_KEPT = 1000   # the newest; older ones are dropped
DEAD_LETTER_BYTES = 4000   # of each refused item, enough to see what it was

_CLAIM = """
local chunk, job = KEYS[1], KEYS[2]
local state = redis.call('HGET', chunk, 'state')
if state == false then return {'unknown', 0} end
if state == 'done' or state == 'cancelled' or state == 'failed' then return {'skip', 0} end
if redis.call('HGET', job, 'cancel') == '1' then
  redis.call('HSET', chunk, 'state', 'cancelled')
  return {'cancelled', 0}
end
local attempts = redis.call('HINCRBY', chunk, 'attempts', 1)
if attempts > tonumber(ARGV[5]) then
  -- Say why by what the last delivery left: a live claim (a duplicate of a delivery still
  -- running), an error it ended with, or an expired claim (its worker vanished mid-chunk).
  -- A live claim of this same worker by another process: that process died (killed).
  local why = 'its worker was lost every time'
  local last = redis.call('HGET', chunk, 'error') or ''
  local live = state == 'running' and
    tonumber(redis.call('HGET', chunk, 'lease') or '0') > tonumber(ARGV[6])
  local replaced = redis.call('HGET', chunk, 'worker') == ARGV[2] and
    redis.call('HGET', chunk, 'pid') ~= ARGV[3]
  if live and not replaced then
    why = 'the message was delivered again while another delivery still held the chunk (duplicate deliveries)'
  elseif live then
    why = 'its worker process died every time (killed, or crashed) while rendering it'
  elseif last ~= '' then
    why = 'the last one ended with ' .. (string.gsub(last, '^retrying after ', ''))
  end
  redis.call('HSET', chunk, 'state', 'failed', 'error',
    'gave up after ' .. ARGV[5] .. ' deliveries: ' .. why)
  return {'exhausted', attempts}
end
redis.call('HSET', chunk, 'state', 'running', 'owner', ARGV[1], 'worker', ARGV[2],
           'pid', ARGV[3], 'lease', ARGV[4], 'started', ARGV[6])
if redis.call('HGET', job, 'started') == false then redis.call('HSET', job, 'started', ARGV[6]) end
return {'claimed', attempts}
"""

# KEYS[1]: the hash holding the claim; ARGV: token, new lease, owner field, lease field
_HEARTBEAT = """
if redis.call('HGET', KEYS[1], ARGV[3]) ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], ARGV[4], ARGV[2])
return 1
"""

# A running job's own account of its progress (a training run's step, loss and ETA), kept in
# the job's hash as JSON, written only by the delivery that owns the chunk.
_NOTE = """
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[2], 'note', ARGV[2])
return 1
"""

# The assembly's claim lives in the job's hash (assembly_owner, assembly_lease): one at a
# time; a duplicate message finds a live claim and is dropped; a claim whose lease ran out
# (its worker died) is taken over, at most ARGV[4] times.
_CLAIM_ASSEMBLY = """
local job, active = KEYS[1], KEYS[2]
local state = redis.call('HGET', job, 'state')
if state == false then return {'unknown', 0} end
if state == 'succeeded' or state == 'cancelled' or state == 'failed'
   or redis.call('HGET', job, 'cancel') == '1' then return {'skip', 0} end
local lease = tonumber(redis.call('HGET', job, 'assembly_lease') or '0')
local owner = redis.call('HGET', job, 'assembly_owner')
if owner and owner ~= '' and lease > tonumber(ARGV[3]) then return {'busy', 0} end
local attempts = redis.call('HINCRBY', job, 'assembly_attempts', 1)
if attempts > tonumber(ARGV[4]) then
  redis.call('HSET', job, 'state', 'failed', 'finished', ARGV[3], 'assembly_lease', '0',
    'error', 'assembly gave up after ' .. ARGV[4] .. ' deliveries: its worker was lost every time')
  redis.call('SREM', active, ARGV[5])
  return {'exhausted', attempts}
end
redis.call('HSET', job, 'assembly_owner', ARGV[1], 'assembly_lease', ARGV[2])
return {'claimed', attempts}
"""

# Success only for the assembly that still owns the claim, and only once.
_SUCCEED = """
local job = KEYS[1]
if redis.call('HGET', job, 'assembly_owner') ~= ARGV[1] then return 0 end
local state = redis.call('HGET', job, 'state')
if state == 'succeeded' or state == 'cancelled' or state == 'failed' then return 0 end
redis.call('HSET', job, 'state', 'succeeded', 'finished', ARGV[2], 'output', ARGV[3],
           'assembly_lease', '0')
redis.call('SREM', KEYS[2], ARGV[4])
return 1
"""

# The reconciler gives up an assembly's claim only if it is the one it saw expire.
_RELEASE_ASSEMBLY = """
if redis.call('HGET', KEYS[1], 'assembly_lease') ~= ARGV[1] then return 0 end
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'succeeded' or state == 'cancelled' or state == 'failed' then return 0 end
redis.call('HSET', KEYS[1], 'assembly_owner', '', 'assembly_lease', '0')
return 1
"""

_COMMIT_FRAME = """
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return -1 end
local added = redis.call('SADD', KEYS[2], ARGV[2])
if added == 1 then redis.call('HINCRBY', KEYS[3], 'done', 1) end
return added
"""

_FINISH = """
local chunk, finished, job, assemble = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
if redis.call('HGET', chunk, 'owner') ~= ARGV[1] then return 'superseded' end
redis.call('HSET', chunk, 'state', 'done', 'finished', ARGV[3], 'lease', '0', 'error', '')
redis.call('SADD', finished, ARGV[2])
if redis.call('SCARD', finished) == tonumber(redis.call('HGET', job, 'chunks'))
   and redis.call('SET', assemble, ARGV[1], 'NX') then
  return 'assemble'
end
return 'done'
"""

_END_ATTEMPT = """
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'error', ARGV[3], 'lease', '0')
return 1
"""

# The delivery that owns a chunk puts it back in the queue, its attempt not counted: it ended
# well (a time slice of a long training run, checkpointed), so it is no worker lost.
_SET_ASIDE = """
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'state', 'queued', 'owner', '', 'lease', '0', 'error', '',
           'queued_at', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'attempts', -1)
return 1
"""

# A chunk goes back to queued only as it was when the caller decided so: `expired` (the
# reconciler) only while it is still running with a lease run out (not finished, not renewed
# since it was read); `unfinished` (retry) only if it is not done, with its attempts reset.
_REQUEUE = """
local chunk = KEYS[1]
local state = redis.call('HGET', chunk, 'state')
if ARGV[1] == 'expired' then
  local lease = tonumber(redis.call('HGET', chunk, 'lease') or '0')
  if state ~= 'running' or lease == 0 or lease >= tonumber(ARGV[2]) then return 0 end
elseif state == false or state == 'done' then
  return 0
else
  redis.call('HSET', chunk, 'attempts', '0')
end
redis.call('HSET', chunk, 'state', 'queued', 'owner', '', 'lease', '0', 'error', '',
           'queued_at', ARGV[2])
return 1
"""

# A job ends once: whoever ends it first (succeeded, failed, cancelled) decides. KEYS[3], if
# given, is the chunk that failed it (marked failed with ARGV[3] unless it is done); ARGV[4..]
# are the job's fields to set.
_END_JOB = """
local state = redis.call('HGET', KEYS[1], 'state')
if state == false or state == 'succeeded' or state == 'failed' or state == 'cancelled' then
  return 0
end
if KEYS[3] and redis.call('HGET', KEYS[3], 'state') ~= 'done' then
  redis.call('HSET', KEYS[3], 'state', 'failed', 'error', ARGV[3], 'lease', '0')
end
redis.call('HSET', KEYS[1], 'finished', ARGV[2], unpack(ARGV, 4))
redis.call('SREM', KEYS[2], ARGV[1])
return 1
"""

# Remove an ended job's keys (purge, expiry), unless it was reopened since it was read.
_REMOVE = """
local state = redis.call('HGET', KEYS[1], 'state')
if state ~= 'succeeded' and state ~= 'failed' and state ~= 'cancelled' then return 0 end
for i = 0, tonumber(redis.call('HGET', KEYS[1], 'chunks') or '0') - 1 do
  redis.call('DEL', KEYS[1] .. ':chunk:' .. i)
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5])
redis.call('ZREM', KEYS[6], ARGV[1])
redis.call('SREM', KEYS[7], ARGV[1])
return 1
"""

# Cancel: flag the job, end it, and mark its queued chunks cancelled, unless it has ended;
# returns {'cancelled', task ids of those chunks...} or {the state it had ended in}.
_CANCEL = """
local job = KEYS[1]
local state = redis.call('HGET', job, 'state')
if state == false then return {'unknown'} end
if state == 'succeeded' or state == 'failed' or state == 'cancelled' then return {state} end
redis.call('HSET', job, 'cancel', '1', 'state', 'cancelled', 'finished', ARGV[2])
redis.call('SREM', KEYS[2], ARGV[1])
local found = {'cancelled'}
for i = 0, tonumber(redis.call('HGET', job, 'chunks') or '0') - 1 do
  local chunk = job .. ':chunk:' .. i
  if redis.call('HGET', chunk, 'state') == 'queued' then
    redis.call('HSET', chunk, 'state', 'cancelled')
    table.insert(found, redis.call('HGET', chunk, 'task_id') or '')
  end
end
return found
"""

_RESEND = """
if redis.call('HGET', KEYS[1], 'state') ~= 'queued' then return 0 end
if (redis.call('HGET', KEYS[1], 'task_id') or '') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'queued_at', ARGV[2])
return 1
"""

# A chunk recorded done whose frames are gone from disk is done no more: those frames are
# uncommitted (the progress count follows) and the chunk is queued with fresh attempts.
_REDO = """
local chunk, frames, finished, job = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
if redis.call('HGET', chunk, 'state') ~= 'done' then return 0 end
for i = 2, #ARGV do
  if redis.call('SREM', frames, ARGV[i]) == 1 then redis.call('HINCRBY', job, 'done', -1) end
end
redis.call('SREM', finished, ARGV[1])
redis.call('HSET', chunk, 'state', 'queued', 'owner', '', 'lease', '0', 'attempts', '0',
           'error', '')
return 1
"""

_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@functools.lru_cache(maxsize=4)
def store_for(url: str) -> "JobStore":
    """One job store (and connection pool) per Redis URL in a worker process: patient, since
    a worker waits out Redis' trouble rather than fail its chunk for it."""
    return JobStore.from_url(url, patient=True)


# What a worker waits out: Redis away, loading, or refusing writes (out of memory under
# noeviction, a read-only replica). A refused command wrote nothing (a Lua script is refused
# at its first write), so it can be sent again.
WAITED_OUT = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
              redis.exceptions.OutOfMemoryError, redis.exceptions.ReadOnlyError)
PATIENT_BACKOFF = dict(cap=30.0, base=0.5)  # seconds: doubling from half a second to 30


class PatientRetry(Retry):
    """redis-py's retry, forever, with exponential backoff and jitter, logging each wait."""

    def __init__(self):
        super().__init__(EqualJitterBackoff(**PATIENT_BACKOFF), retries=-1,
                         supported_errors=WAITED_OUT)

    def call_with_retry(self, do, fail, *args, **kwargs):
        def logged(error, *count):
            log.warning("Redis: %s: %s; waiting and trying again", type(error).__name__, error)
            return fail(error, *count)

        return super().call_with_retry(do, logged, *args, **kwargs)


class UnknownJob(InputError):
    pass


class DamagedRecord(InputError):
    """A job record that cannot be read as one (written by hand, cut short, forged)."""

    def __init__(self, job: str, reason: str):
        super().__init__(f"job {job}: its record is damaged ({reason})")
        self.job, self.reason = job, reason


def push_dead_letter(client: redis.Redis, reason: str, *, raw, source: str, **what) -> None:
    """Keep a refused message or record, with the reason, in the dead-letter list: a worker
    acknowledges it and carries on, and `latentfx doctor` shows that there are some."""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    if not isinstance(raw, str):
        raw = json.dumps(raw, default=repr)
    entry = json.dumps({"time": time.time(), "source": source, "reason": reason,
                        "raw": raw[:DEAD_LETTER_BYTES], **what}, default=repr)
    pipe = client.pipeline()
    pipe.lpush(DEAD_LETTERS, entry)
    pipe.ltrim(DEAD_LETTERS, 0, DEAD_LETTERS_KEPT - 1)
    pipe.execute()


@dataclass(frozen=True)
class Claim:
    outcome: str   # claimed | skip | cancelled | exhausted | unknown
    token: str
    attempt: int


def _note(text: str | None) -> dict | None:
    """A job's progress note, or None (none yet, or not a JSON object: only shown, so a
    damaged one is dropped rather than refused)."""
    try:
        note = json.loads(text) if text else None
    except ValueError:
        return None
    return note if isinstance(note, dict) else None


def chunk_failure(record: dict) -> str:
    """Why a job failed, from its chunks: the first failed chunk's error."""
    errors = [c.get("error") for c in record["chunk_list"] if c["state"] == "failed"]
    return next((e for e in errors if e), "a chunk failed")


class JobStore:
    def __init__(self, client: redis.Redis):
        self._redis = client
        self._claim = client.register_script(_CLAIM)
        self._heartbeat = client.register_script(_HEARTBEAT)
        self._note = client.register_script(_NOTE)
        self._claim_assembly = client.register_script(_CLAIM_ASSEMBLY)
        self._succeed = client.register_script(_SUCCEED)
        self._release_assembly = client.register_script(_RELEASE_ASSEMBLY)
        self._commit = client.register_script(_COMMIT_FRAME)
        self._finish = client.register_script(_FINISH)
        self._end = client.register_script(_END_ATTEMPT)
        self._set_aside = client.register_script(_SET_ASIDE)
        self._unlock = client.register_script(_UNLOCK)
        self._requeue = client.register_script(_REQUEUE)
        self._end_job = client.register_script(_END_JOB)
        self._cancel = client.register_script(_CANCEL)
        self._resend = client.register_script(_RESEND)
        self._redo = client.register_script(_REDO)
        self._remove = client.register_script(_REMOVE)

    @classmethod
    def from_url(cls, url: str, *, timeout: float = 30, patient: bool = False) -> "JobStore":
        """`patient`: every command waits out WAITED_OUT errors (a worker); otherwise they
        are raised (the CLI says what is wrong at once)."""
        extra = dict(retry=PatientRetry(), retry_on_error=list(WAITED_OUT)) if patient else {}
        return cls(redis.Redis.from_url(url, decode_responses=True, socket_timeout=timeout,
                                        health_check_interval=30, **extra))

    @property
    def client(self) -> redis.Redis:
        """For reading the broker's own keys (workers.broker.waiting_task_ids), not ours."""
        return self._redis

    def ping(self) -> None:
        """Raises unless Redis answers."""
        self._redis.ping()

    # -- refused messages and records ---------------------------------------------------------
    def dead_letter(self, reason: str, *, raw, source: str, **what) -> None:
        push_dead_letter(self._redis, reason, raw=raw, source=source, **what)

    def dead_letters(self, limit: int = 20) -> list[dict]:
        """The newest refused items, newest first."""
        return [json.loads(e) for e in self._redis.lrange(DEAD_LETTERS, 0, limit - 1)]

    def dead_letter_count(self) -> int:
        return self._redis.llen(DEAD_LETTERS)

    # -- keys ---------------------------------------------------------------------------------
    @staticmethod
    def job_key(job: str, *parts) -> str:
        return ":".join([PREFIX, "job", job, *map(str, parts)])

    def chunk_key(self, job: str, index: int) -> str:
        return self.job_key(job, "chunk", index)

    # -- creating and reading -----------------------------------------------------------------
    @staticmethod
    def new_id() -> str:
        return uuid.uuid4().hex[:12]

    @staticmethod
    def is_job_id(value) -> bool:
        return isinstance(value, str) and JOB_ID.fullmatch(value) is not None

    def create(self, job: str, *, kind: str, spec: dict, ranges: list[tuple[int, int]],
               total: int, queue: str, priority: int, job_dir: str, model_id: str | None) -> str:
        now = time.time()
        pipe = self._redis.pipeline()
        pipe.hset(self.job_key(job), mapping={
            "id": job, "kind": kind, "spec": json.dumps(spec), "state": "queued",
            "total": total, "done": 0, "chunks": len(ranges), "queue": queue,
            "priority": priority, "job_dir": job_dir, "created": now, "cancel": 0,
            "model_id": model_id or ""})
        for i, (start, stop) in enumerate(ranges):
            pipe.hset(self.chunk_key(job, i), mapping={
                "index": i, "state": "queued", "start": start, "stop": stop, "attempts": 0,
                "owner": "", "lease": 0, "error": ""})
        pipe.zadd(f"{PREFIX}:jobs", {job: now})
        pipe.sadd(f"{PREFIX}:active", job)
        pipe.execute()
        return job

    def job(self, job: str) -> dict:
        """The job's record with its chunks; UnknownJob, or DamagedRecord naming what is
        wrong (a record is only as trustworthy as whoever can write to Redis)."""
        record = self._redis.hgetall(self.job_key(job))
        if not record:
            raise UnknownJob(f"unknown job {job!r}: no such job in this farm's store "
                             f"(see `latentfx jobs`)")
        try:
            record["spec"] = json.loads(record["spec"])
            for key in ("total", "done", "chunks", "priority", "cancel"):
                record[key] = int(record[key])
            float(record["created"]), record["kind"], record["job_dir"], record["queue"]
        except (KeyError, ValueError, TypeError) as exc:
            raise DamagedRecord(job, f"{type(exc).__name__}: {exc}") from None
        if not isinstance(record["spec"], dict) or record["state"] not in STATES:
            raise DamagedRecord(job, "its spec is not an object or its state is unknown")
        if not 0 < record["chunks"] <= MAX_CHUNKS:
            raise DamagedRecord(job, f"it claims {record['chunks']} chunks (at most "
                                     f"{MAX_CHUNKS} are read)")
        record["note"] = _note(record.get("note"))
        record["chunk_list"] = self._chunks(job, record["chunks"])
        record["state"] = self._overall_state(record)
        if record["state"] == "failed" and not record.get("error"):
            # Failed by its chunks, and not yet marked so by the worker that settles it: the
            # reason is the failed chunk's, as settling will write it.
            record["error"] = chunk_failure(record)
        return record

    def chunk(self, job: str, index: int) -> dict:
        return self._chunks(job, index + 1, start=index)[0]

    def _chunks(self, job: str, stop: int, *, start: int = 0) -> list[dict]:
        """Chunks [start, stop) of the job, read in one round trip."""
        pipe = self._redis.pipeline(transaction=False)
        for index in range(start, stop):
            pipe.hgetall(self.chunk_key(job, index))
        chunks = pipe.execute()
        try:
            for chunk in chunks:
                for key in ("index", "start", "stop", "attempts"):
                    chunk[key] = int(chunk[key])
                chunk["lease"] = float(chunk.get("lease") or 0)
                if chunk["state"] not in CHUNK_STATES:
                    raise ValueError(f"chunk {chunk['index']} is {chunk['state']!r}")
        except (KeyError, ValueError, TypeError) as exc:
            raise DamagedRecord(job, f"a chunk's record is damaged: {type(exc).__name__}: "
                                     f"{exc}") from None
        return chunks

    def job_ids(self, limit: int = 50) -> list[str]:
        return self._redis.zrevrange(f"{PREFIX}:jobs", 0, limit - 1)

    def active_jobs(self) -> list[str]:
        return sorted(self._redis.smembers(f"{PREFIX}:active"))

    def committed_frames(self, job: str) -> set[int]:
        return {int(f) for f in self._redis.smembers(self.job_key(job, "frames"))}

    def attempts(self, job: str) -> list[dict]:
        return [json.loads(a) for a in self._redis.lrange(self.job_key(job, "attempts"), 0, -1)]

    @staticmethod
    def _overall_state(record: dict) -> str:
        """The job's state from its own terminal marks and its chunks'."""
        if record["state"] in ("succeeded", "cancelled"):
            return record["state"]
        chunk_states = {c["state"] for c in record["chunk_list"]}
        if record["state"] == "failed" or ("failed" in chunk_states and
                                           not chunk_states & {"queued", "running"}):
            return "failed"
        if record.get("started") or record["done"] or "done" in chunk_states:
            return "running"
        return "queued"

    # -- a chunk's life ----------------------------------------------------------------------
    def claim(self, job: str, index: int, *, worker: str, pid: int, lease_seconds: float,
              max_attempts: int) -> Claim:
        token = uuid.uuid4().hex
        now = time.time()
        outcome, attempt = self._claim(keys=[self.chunk_key(job, index), self.job_key(job)],
                                       args=[token, worker, pid, now + lease_seconds,
                                             max_attempts, now])
        attempt = int(attempt)
        if outcome in ("claimed", "exhausted"):
            self._redis.rpush(self.job_key(job, "attempts"), json.dumps(
                {"chunk": index, "attempt": attempt, "token": token, "worker": worker,
                 "pid": pid, "started": now, "outcome": outcome}))
        return Claim(outcome, token, attempt)

    def heartbeat(self, job: str, index: int, token: str, lease_seconds: float) -> bool:
        """Extend the claim; False once another delivery owns the chunk."""
        return bool(self._heartbeat(keys=[self.chunk_key(job, index)],
                                    args=[token, time.time() + lease_seconds, "owner", "lease"]))

    def note_progress(self, job: str, index: int, token: str, note: dict) -> bool:
        """Keep the job's progress note (JSON: done, total, message, eta_seconds); False
        once another delivery owns the chunk."""
        return bool(self._note(keys=[self.chunk_key(job, index), self.job_key(job)],
                               args=[token, json.dumps(note)]))

    def commit_frame(self, job: str, index: int, token: str, frame: int) -> int:
        """1: committed now; 0: already committed; -1: this delivery no longer owns the chunk."""
        return int(self._commit(keys=[self.chunk_key(job, index), self.job_key(job, "frames"),
                                      self.job_key(job)], args=[token, frame]))

    def finish(self, job: str, index: int, token: str) -> str:
        """'assemble' for exactly one finisher, once every chunk is done; else 'done' or
        'superseded'."""
        return self._finish(keys=[self.chunk_key(job, index), self.job_key(job, "finished"),
                                  self.job_key(job), self.job_key(job, "assemble")],
                            args=[token, index, time.time()])

    def end_attempt(self, job: str, index: int, token: str, state: str, error: str = "") -> bool:
        """Leave the chunk as `state` (failed, cancelled, queued) if this delivery owns it."""
        return bool(self._end(keys=[self.chunk_key(job, index)], args=[token, state, error]))

    def set_aside(self, job: str, index: int, token: str) -> bool:
        """Queue the chunk again without counting this delivery's attempt, if it owns it."""
        # queued_at is now: the reconciler gives its new message a lease to be recorded
        # before it counts it as lost (the submit time was long past).
        return bool(self._set_aside(keys=[self.chunk_key(job, index)],
                                    args=[token, time.time()]))

    # -- the assembly's life ------------------------------------------------------------------
    def claim_assembly(self, job: str, *, lease_seconds: float, max_attempts: int) -> Claim:
        """claimed, busy (a live assembly owns it), skip (the job ended), exhausted, unknown."""
        token, now = uuid.uuid4().hex, time.time()
        outcome, attempt = self._claim_assembly(
            keys=[self.job_key(job), f"{PREFIX}:active"],
            args=[token, now + lease_seconds, now, max_attempts, job])
        return Claim(outcome, token, int(attempt))

    def heartbeat_assembly(self, job: str, token: str, lease_seconds: float) -> bool:
        return bool(self._heartbeat(keys=[self.job_key(job)],
                                    args=[token, time.time() + lease_seconds, "assembly_owner",
                                          "assembly_lease"]))

    def succeed(self, job: str, token: str, output: str) -> bool:
        """Mark the job succeeded if this assembly still owns it and it has not ended."""
        return bool(self._succeed(keys=[self.job_key(job), f"{PREFIX}:active"],
                                  args=[token, time.time(), output, job]))

    def release_assembly(self, job: str, lease_seen: str) -> bool:
        """Free an assembly claim whose lease (as read: `lease_seen`) ran out; False if it
        changed since (renewed, taken over, the job ended)."""
        return bool(self._release_assembly(keys=[self.job_key(job)], args=[lease_seen]))

    # -- the job as a whole ------------------------------------------------------------------
    def set_task_id(self, job: str, index: int, task_id: str) -> None:
        self._redis.hset(self.chunk_key(job, index),
                         mapping={"task_id": task_id, "queued_at": time.time()})

    def redo(self, job: str, index: int, frames: list[int]) -> bool:
        """A done chunk whose `frames` are missing on disk goes back to queued."""
        return bool(self._redo(keys=[self.chunk_key(job, index), self.job_key(job, "frames"),
                                     self.job_key(job, "finished"), self.job_key(job)],
                               args=[index, *frames]))

    def claim_resend(self, job: str, index: int, task_id_seen: str) -> bool:
        """Take the right to send a queued chunk's message again: only if it is still
        queued under the message id seen (nobody claimed it, nobody re-sent it)."""
        return bool(self._resend(keys=[self.chunk_key(job, index)],
                                 args=[task_id_seen, time.time()]))

    def requeue_expired(self, job: str, index: int) -> bool:
        """Queue a running chunk again if its lease has run out (its worker died); False if
        it finished or was renewed meanwhile."""
        return bool(self._requeue(keys=[self.chunk_key(job, index)],
                                  args=["expired", time.time()]))

    def requeue_unfinished(self, job: str, index: int) -> bool:
        """Queue a chunk again, its attempts reset, unless it is done."""
        return bool(self._requeue(keys=[self.chunk_key(job, index)],
                                  args=["unfinished", time.time()]))

    def finish_job(self, job: str, state: str, **fields) -> bool:
        """End the job as `state` with `fields`, unless it has already ended."""
        return self._conclude(job, state=state, **fields)

    def _conclude(self, job: str, *, chunk: int | None = None, chunk_error: str = "",
             **fields) -> bool:
        keys = [self.job_key(job), f"{PREFIX}:active"]
        if chunk is not None:
            keys.append(self.chunk_key(job, chunk))
        pairs = [str(v) for item in fields.items() for v in item]
        return bool(self._end_job(keys=keys, args=[job, time.time(), chunk_error, *pairs]))

    def reopen(self, job: str) -> None:
        self._redis.hset(self.job_key(job), mapping={"state": "queued", "cancel": 0, "error": ""})
        self._redis.hdel(self.job_key(job), "finished", "assembly_owner", "assembly_lease",
                         "assembly_attempts")
        self._redis.delete(self.job_key(job, "assemble"))
        self._redis.sadd(f"{PREFIX}:active", job)

    def cancel(self, job: str) -> tuple[str | None, list[str]]:
        """Flag the job (running chunks stop at their next frame), end it as cancelled and
        mark its queued chunks cancelled, all at once, unless it has already ended: (the
        state it had ended in or None, the message ids of the chunks it stopped)."""
        found = self._cancel(keys=[self.job_key(job), f"{PREFIX}:active"],
                             args=[job, time.time()])
        if found[0] == "unknown":
            raise UnknownJob(f"unknown job {job!r}: no such job in this farm's store")
        if found[0] != "cancelled":
            return found[0], []
        return None, list(found[1:])

    def set_spec(self, job: str, spec: dict) -> None:
        """Replace the job's spec: later deliveries of its chunks run with this one."""
        self._redis.hset(self.job_key(job), "spec", json.dumps(spec))

    def cancel_requested(self, job: str) -> bool:
        return self._redis.hget(self.job_key(job), "cancel") == "1"

    def fail_job(self, job: str, error: str, *, chunk: int | None = None) -> bool:
        """Mark the job failed with `error` (and that chunk too, unless it is done) at once,
        so no reader sees the failure without its reason; unless it has already ended."""
        return self._conclude(job, chunk=chunk, chunk_error=error, state="failed", error=error)

    def remove(self, job: str) -> bool:
        """Delete an ended job's record (its chunks, frames, attempts); False, and nothing
        deleted, when it is not ended (a retry reopened it)."""
        keys = [self.job_key(job, *part) for part in ((), ("frames",), ("finished",),
                                                       ("assemble",), ("attempts",))]
        return bool(self._remove(keys=[*keys, f"{PREFIX}:jobs", f"{PREFIX}:active"],
                                 args=[job]))

    def all_job_ids(self) -> list[str]:
        return self._redis.zrange(f"{PREFIX}:jobs", 0, -1)

    def announce_worker(self, name: str, *, seconds: float) -> None:
        """`name` is running, for the next `seconds` (each worker renews it)."""
        self._redis.set(f"{WORKERS}{name}", time.time(), ex=max(1, int(seconds)))

    def live_workers(self) -> list[str]:
        return sorted(key[len(WORKERS):] for key in self._redis.scan_iter(f"{WORKERS}*"))

    # -- the farm's identity (workers.identity) -----------------------------------------------
    def farm_id(self) -> str | None:
        return self._redis.get(FARM_ID)

    def adopt_farm_id(self, farm: str) -> str:
        """Record `farm` as this Redis' farm id unless it has one; returns the one it has."""
        self._redis.set(FARM_ID, farm, nx=True)
        return self._redis.get(FARM_ID)

    # -- coordination between workers ---------------------------------------------------------
    @contextmanager
    def lock(self, name: str, *, seconds: float) -> Iterator[bool]:
        """Hold the lock `name` for at most `seconds`, if nobody else holds it: yields whether
        this caller got it. Released on exit only if it is still ours (it may have expired
        and been taken by another)."""
        key, token = f"{PREFIX}:{name}", uuid.uuid4().hex
        held = bool(self._redis.set(key, token, nx=True, ex=max(1, int(seconds))))
        try:
            yield held
        finally:
            if held:
                self._unlock(keys=[key], args=[token])
