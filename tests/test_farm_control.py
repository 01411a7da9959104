"""The farm's control and a chunk's outcome, against a real redis-server with no worker
attached: what the verbs do to the job record and what they put in the broker, what a
delivery of a chunk comes to, and what the thin task does with that (DESIGN §4)."""

import ast
import json
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

import cli
from conftest import ROOT
from farm_harness import farm_with_workers
from workers import control, execution, tasks
from workers.queueing import broker_priority, enqueue_chunks
from workers.app import get_app
from workers.task_names import ASSEMBLE, RENDER_CHUNK


@pytest.fixture(scope="module")
def farm(tmp_path_factory):
    yield from farm_with_workers(tmp_path_factory.mktemp("control"))  # no workers: scripted


def new_job(farm, *, chunks=2, priority=7, kind="walk", spec=None) -> str:
    store = farm.store()
    job = store.new_id()
    spec = spec if spec is not None else {"keyframes": ["seed:1", "seed:2"], "frames": 2,
                                          "output": str(farm.storage / job / "w.mp4")}
    store.create(job, kind=kind, spec=spec, ranges=[(i, i + 1) for i in range(chunks)],
                 total=chunks, queue="cpu", priority=priority,
                 job_dir=str(farm.storage / "jobs" / job), model_id=None)
    return job


def finish_chunks(store, job, indices) -> None:
    for index in indices:
        claim = store.claim(job, index, worker="w", pid=1, lease_seconds=60, max_attempts=3)
        store.finish(job, index, claim.token)


def frames_on_disk(farm, job, frames) -> None:
    folder = farm.storage / "jobs" / job / "frames"
    folder.mkdir(parents=True, exist_ok=True)
    for frame in frames:
        (folder / f"{frame:06d}.png").write_bytes(b"png")


def queued_messages(farm) -> list[tuple[str, list, int]]:
    """(task name, args, priority) of every message waiting in the cpu queue, read through
    the broker as a worker would."""
    from kombu import Connection

    options = {"queue_order_strategy": "priority", "priority_steps": list(range(10))}
    found = []
    with Connection(farm.redis.url, transport_options=options) as connection:
        with connection.SimpleQueue("cpu") as queue:
            while True:
                try:
                    message = queue.get(timeout=1)
                except queue.Empty:
                    return found
                found.append((message.headers["task"], json.loads(message.body)[0],
                              message.properties["priority"]))
                message.ack()


def invoke(farm, *args):
    return CliRunner().invoke(cli.cli, [str(a) for a in args], env=farm.env,
                              catch_exceptions=False)


# -- retry ------------------------------------------------------------------------------------

def test_retry_queues_the_assembly_at_the_jobs_priority(farm):
    store, settings = farm.store(), farm.settings()
    job = new_job(farm, priority=7)
    finish_chunks(store, job, [0, 1])
    frames_on_disk(farm, job, [0, 1])
    store.fail_job(job, "assembly failed: ffmpeg went away")
    queued_messages(farm)  # nothing else waiting

    retried = control.retry(settings, store, job)
    assert (retried.chunks, retried.assembly) == ([], True)
    assert store.job(job)["state"] != "failed"
    # The priority a worker gives the assembly when the last chunk finishes: the same.
    assert queued_messages(farm) == [(ASSEMBLE, [job], broker_priority(7))]


def test_retry_queues_only_unfinished_chunks_at_the_jobs_priority(farm):
    store, settings = farm.store(), farm.settings()
    job = new_job(farm, chunks=3, priority=2)
    finish_chunks(store, job, [0, 2])
    frames_on_disk(farm, job, [0, 2])
    claim = store.claim(job, 1, worker="w", pid=1, lease_seconds=60, max_attempts=3)
    store.end_attempt(job, 1, claim.token, "failed", "KeyError: x")
    queued_messages(farm)

    retried = control.retry(settings, store, job)
    assert (retried.chunks, retried.assembly) == ([1], False)
    assert store.chunk(job, 1)["attempts"] == 0 and store.chunk(job, 1)["task_id"]
    assert queued_messages(farm) == [(RENDER_CHUNK, [job, 1], broker_priority(2))]


def test_retry_refuses_a_running_job_and_leaves_a_succeeded_one(farm):
    store, settings = farm.store(), farm.settings()
    job = new_job(farm)
    store.claim(job, 0, worker="w", pid=1, lease_seconds=60, max_attempts=3)  # under way
    with pytest.raises(control.JobStillRunning, match="retry it once it has ended"):
        control.retry(settings, store, job)
    result = invoke(farm, "retry", job)
    assert result.exit_code == 2 and f"job {job} is running with work under way" in result.output

    finish_chunks(store, job, [0, 1])
    store.finish_job(job, "succeeded", output="w.mp4")
    assert control.retry(settings, store, job).nothing_to_do
    assert queued_messages(farm) == []
    assert "succeeded; nothing to retry" in invoke(farm, "retry", job).output


def test_retry_sends_a_stalled_jobs_lost_messages_again(farm):
    """Queued, nothing running, no message in the broker: without retry it waits forever."""
    store, settings = farm.store(), farm.settings()
    job = new_job(farm, chunks=2)
    enqueue_chunks(get_app(settings), store, job, [0, 1], queue="cpu", priority=7)
    with pytest.raises(control.JobStillRunning):  # its messages wait: it will run
        control.retry(settings, store, job)
    queued_messages(farm)  # the messages are lost
    assert control.retry(settings, store, job).chunks == [0, 1]
    assert sorted(m[1] for m in queued_messages(farm)) == [[job, 0], [job, 1]]


def test_retry_renders_again_the_frames_gone_from_disk(farm):
    """The record says chunk 0's frame was committed; the disk says it is gone."""
    store, settings = farm.store(), farm.settings()
    job = new_job(farm, chunks=2)
    for index in (0, 1):
        claim = store.claim(job, index, worker="w", pid=1, lease_seconds=60, max_attempts=3)
        store.commit_frame(job, index, claim.token, index)
        store.finish(job, index, claim.token)
    frames_on_disk(farm, job, [1])
    store.fail_job(job, "assembly found 1 file(s) missing")
    queued_messages(farm)
    assert control.retry(settings, store, job).chunks == [0]
    assert store.committed_frames(job) == {1} and store.job(job)["done"] == 1
    assert queued_messages(farm) == [(RENDER_CHUNK, [job, 0], broker_priority(7))]


# -- cancel and fetch -------------------------------------------------------------------------

def test_cancel_of_an_ended_job_changes_nothing(farm):
    store, settings = farm.store(), farm.settings()
    job = new_job(farm)
    store.fail_job(job, "a chunk failed")
    before = store.job(job)

    done = control.cancel(settings, store, job)
    assert done == control.Cancelled(job, already_ended="failed", revoked=0)
    after = store.job(job)
    assert (after["state"], after["cancel"], after["error"]) == ("failed", 0, before["error"])
    assert "has already ended (failed); nothing to cancel" in invoke(farm, "cancel", job).output


def test_cancel_marks_queued_chunks_and_ends_the_job(farm):
    store, settings = farm.store(), farm.settings()
    job = new_job(farm, chunks=3)
    done = control.cancel(settings, store, job)
    assert (done.already_ended, done.revoked) == (None, 3)
    record = store.job(job)
    assert record["state"] == "cancelled" and store.cancel_requested(job)
    assert {c["state"] for c in record["chunk_list"]} == {"cancelled"}


def test_fetch_refuses_a_job_that_did_not_succeed(farm, tmp_path):
    store = farm.store()
    job = new_job(farm)
    with pytest.raises(control.JobNotSucceeded, match="only a succeeded job's outputs"):
        control.fetch(store, job, tmp_path / "got")
    assert not (tmp_path / "got").exists()
    result = invoke(farm, "fetch", job, "-o", tmp_path / "got")
    assert result.exit_code == 3 and f"job {job} is queued" in result.output


def test_fetch_copies_a_succeeded_jobs_outputs(farm, tmp_path):
    store = farm.store()
    job = new_job(farm)
    out = farm.storage / "jobs" / job / "out"
    (out / "frames").mkdir(parents=True)
    (out / "w.mp4").write_bytes(b"video")
    (out / "frames" / "0.png").write_bytes(b"png")
    finish_chunks(store, job, [0, 1])
    store.finish_job(job, "succeeded", output=str(out / "w.mp4"))
    written = control.fetch(store, job, tmp_path / "got")
    assert sorted(p.name for p in written) == ["frames", "w.mp4"]
    assert (tmp_path / "got" / "frames" / "0.png").read_bytes() == b"png"


def test_follow_yields_until_the_job_ends(farm):
    store = farm.store()
    job = new_job(farm, chunks=1)
    summaries = control.follow(store, job, every=0.01)
    assert next(summaries)["state"] == "queued"
    finish_chunks(store, job, [0])
    store.finish_job(job, "succeeded")
    assert [s["state"] for s in summaries][-1] == "succeeded"


def test_status_follow_exits_by_how_the_job_ended(farm):
    store = farm.store()
    failed, succeeded = new_job(farm), new_job(farm, chunks=1)
    store.fail_job(failed, "a chunk failed")
    finish_chunks(store, succeeded, [0])
    store.finish_job(succeeded, "succeeded", output="w.mp4")
    result = invoke(farm, "status", failed, "--follow", "--json")
    assert result.exit_code == 3 and json.loads(result.stdout)["error"] == "a chunk failed"
    result = invoke(farm, "status", succeeded, "--follow")
    assert result.exit_code == 0 and "output: w.mp4" in result.stdout


# -- check-then-write: what changes between a read and the write does not get overwritten ---

def interleaved(store, monkeypatch, meanwhile):
    """Make store.job return what it read, after `meanwhile()` has changed the record: the
    interleaving of a reader and a worker that acts between its read and its write."""
    read = store.job

    def job_then_meanwhile(job):
        record = read(job)
        meanwhile()
        return record

    monkeypatch.setattr(store, "job", job_then_meanwhile)


@pytest.mark.parametrize("meanwhile", ["finished", "heartbeat"])
def test_the_reconciler_leaves_a_chunk_that_changed_after_it_read_it(farm, monkeypatch,
                                                                      meanwhile):
    from workers.app import get_app
    from workers.reconciler import Reconciler

    settings = farm.settings()
    reconciler = Reconciler(get_app(settings), settings)
    store = reconciler.store
    job = new_job(farm, chunks=1)
    claim = store.claim(job, 0, worker="w", pid=1, lease_seconds=-1, max_attempts=3)  # expired
    queued_messages(farm)

    def owner_acts():
        if meanwhile == "finished":
            store.finish(job, 0, claim.token)
        else:
            store.heartbeat(job, 0, claim.token, 60)

    interleaved(store, monkeypatch, owner_acts)
    assert reconciler._sweep() == []
    chunk = store.chunk(job, 0)
    assert chunk["state"] == ("done" if meanwhile == "finished" else "running")
    assert chunk["owner"] == claim.token and queued_messages(farm) == []


def test_cancel_does_not_overwrite_a_job_that_succeeded_meanwhile(farm, monkeypatch):
    store, settings = farm.store(), farm.settings()
    job = new_job(farm, chunks=1)
    finish_chunks(store, job, [0])

    def assembly_succeeds():
        claim = store.claim_assembly(job, lease_seconds=60, max_attempts=3)
        assert store.succeed(job, claim.token, "w.mp4")

    interleaved(store, monkeypatch, assembly_succeeds)
    done = control.cancel(settings, store, job)
    assert done.already_ended == "succeeded"
    monkeypatch.undo()
    record = store.job(job)
    assert (record["state"], record["cancel"], record["output"]) == ("succeeded", 0, "w.mp4")


def test_a_job_ends_once(farm):
    store = farm.store()
    job = new_job(farm, chunks=1)
    finish_chunks(store, job, [0])
    assert store.finish_job(job, "succeeded", output="w.mp4")
    assert not store.fail_job(job, "a late duplicate was refused", chunk=0)
    record = store.job(job)
    assert record["state"] == "succeeded" and not record.get("error")
    assert record["chunk_list"][0]["state"] == "done"


def test_a_job_failed_by_its_chunk_says_why_before_it_is_settled(farm):
    # Between a chunk's failure and the worker's settling of the job, a reader (status, a
    # test waiting for "failed") sees the job failed: it must also see the chunk's reason.
    store = farm.store()
    job = new_job(farm, chunks=1)
    claim = store.claim(job, 0, worker="w", pid=1, lease_seconds=60, max_attempts=3)
    store.end_attempt(job, 0, claim.token, "failed", "InputError: outside the root")
    record = store.job(job)
    assert (record["state"], record["error"]) == ("failed", "InputError: outside the root")


# -- lost messages ----------------------------------------------------------------------------

def test_the_reconciler_sends_again_a_queued_chunk_whose_message_is_lost(farm):
    from workers.app import get_app
    from workers.reconciler import Reconciler

    store, settings = farm.store(), farm.settings()
    reconciler = Reconciler(get_app(settings), settings)
    job = new_job(farm, chunks=2, priority=4)
    queued_messages(farm)
    enqueue_chunks(get_app(settings), store, job, [1], queue="cpu", priority=4)  # 0 never sent
    long_ago = time.time() - 10 * settings.lease_seconds
    for index in (0, 1):
        farm.redis.client().hset(store.chunk_key(job, index), "queued_at", long_ago)
    assert [r for r in reconciler._sweep() if r[0] == job] == [(job, 0)]
    assert [r for r in reconciler._sweep() if r[0] == job] == []  # sent once
    assert sorted(m for m in queued_messages(farm) if m[1][0] == job) == [
        (RENDER_CHUNK, [job, 0], broker_priority(4)), (RENDER_CHUNK, [job, 1], broker_priority(4))]


# -- damaged records ----------------------------------------------------------------------------

@pytest.mark.parametrize("damage, reason", [
    ({"spec": "{not json"}, "JSONDecodeError"),
    ({"chunks": 500_000}, "claims 500000 chunks"),
    ({"chunk": {"state": ""}}, "a chunk's record is damaged"),
])
def test_a_damaged_record_is_shown_as_damaged(farm, damage, reason):
    store = farm.store()
    job = new_job(farm, chunks=2)
    client = farm.redis.client()
    if "chunk" in damage:
        client.hdel(store.chunk_key(job, 1), "state")
    else:
        client.hset(store.job_key(job), mapping=damage)
    listing = invoke(farm, "jobs")
    assert listing.exit_code == 0
    assert [line.split()[2] for line in listing.output.splitlines() if job in line] == ["damaged"]
    shown = invoke(farm, "status", job)
    assert shown.exit_code == 3 and f"{job}  damaged:" in shown.output and reason in shown.output
    assert json.loads(invoke(farm, "status", job, "--json").stdout)["state"] == "damaged"
    cancelled = invoke(farm, "cancel", job)
    assert cancelled.exit_code == 3 and "record is damaged" in cancelled.output


# -- a chunk's outcome, and the task acting on it ----------------------------------------------

def test_a_transient_error_comes_back_as_a_retry_after_some_seconds(farm, monkeypatch):
    store, settings = farm.store(), farm.settings()
    job = new_job(farm, chunks=1)

    def broken_share(*_):
        raise OSError("the shared storage went away")

    monkeypatch.setattr(execution, "_render_frames", broken_share)
    outcome = execution.run_chunk(settings, job, 0, worker="w1@test", retries=1)
    assert outcome.result == "retrying" and isinstance(outcome.cause, OSError)
    assert 0 <= outcome.retry_after <= execution.BACKOFF_BASE * 2 ** 1
    assert outcome.assembly is None
    chunk = store.chunk(job, 0)
    assert (chunk["state"], chunk["worker"]) == ("queued", "w1@test")
    # On the last allowed delivery the same error fails the chunk instead.
    outcome = execution.run_chunk(settings, job, 0, worker="w1@test",
                                  retries=settings.max_attempts - 1)
    assert (outcome.result, outcome.retry_after) == ("failed", None)
    assert store.job(job)["state"] == "failed"


def test_the_last_chunk_done_asks_for_the_assembly(farm, monkeypatch):
    store, settings = farm.store(), farm.settings()
    job = new_job(farm, chunks=2, priority=6)
    monkeypatch.setattr(execution, "_render_frames", lambda *_: None)
    first = execution.run_chunk(settings, job, 0, worker="w", retries=0)
    last = execution.run_chunk(settings, job, 1, worker="w", retries=0)
    assert (first.result, first.assembly) == ("done", None)
    assert last.result == "done"
    assert last.assembly == execution.Assembly(job, queue="cpu", priority=6)


class FakeTask:
    """Just enough of a bound Celery task for tasks.act_on."""

    class Retry(Exception):
        pass

    def __init__(self):
        self.sent, self.retries = [], []
        self.app = SimpleNamespace(send_task=self.send_task)

    def send_task(self, name, *, args, queue, priority):
        self.sent.append((name, args, queue, priority))

    def retry(self, *, exc, countdown):
        self.retries.append((exc, countdown))
        return self.Retry()


def test_the_task_retries_with_the_outcomes_delay():
    task, cause = FakeTask(), ConnectionResetError("broker went away")
    outcome = execution.ChunkOutcome("retrying", retry_after=3.5, cause=cause)
    with pytest.raises(FakeTask.Retry):
        tasks.act_on(task, outcome)
    assert task.retries == [(cause, 3.5)] and task.sent == []


def test_the_task_queues_the_assembly_the_outcome_asks_for():
    task = FakeTask()
    outcome = execution.ChunkOutcome("done", assembly=execution.Assembly("j1", "gpu", 8))
    assert tasks.act_on(task, outcome) == "done"
    assert task.sent == [(ASSEMBLE, ["j1"], "gpu", broker_priority(8))]
    assert tasks.act_on(FakeTask(), execution.ChunkOutcome("superseded")) == "superseded"


# -- one app, registered tasks, no import circles ---------------------------------------------

def test_one_app_per_settings_and_celery_finds_it(farm, monkeypatch):
    from celery.app.utils import find_app

    from workers import app as app_module

    for name, value in farm.env.items():
        if name.startswith("LATENTFX_"):
            monkeypatch.setenv(name, value)
    app = app_module.get_app()
    assert app is app_module.get_app(farm.settings()) is app_module.app
    assert find_app("workers.app") is app  # what `celery -A workers.app worker` does
    assert {RENDER_CHUNK, ASSEMBLE} <= set(app.tasks)  # the shared tasks joined it


def test_importing_the_farm_builds_no_app():
    code = ("import workers.app, workers.control, workers.submit, workers.reconciler, "
            "workers.tasks\n"
            "assert workers.app._app_for.cache_info().currsize == 0\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def imports_within(package: str) -> dict[str, set[str]]:
    """module -> the modules of `package` it imports, at the top or inside functions."""
    graph = {}
    for path in sorted((ROOT / package).glob("*.py")):
        name = f"{package}.{path.stem}" if path.stem != "__init__" else package
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = package if node.level else (node.module or "")
                target = f"{base}.{node.module}" if node.level and node.module else base
                found |= {target} | {f"{target}.{a.name}" for a in node.names}
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
        graph[name] = {m for m in found if m.startswith(f"{package}.")} - {name}
    return {name: {m for m in deps if m in graph} for name, deps in graph.items()}


def test_no_import_circle_in_the_farm():
    graph = imports_within("workers")
    assert graph["workers.app"] and graph["workers.tasks"]  # the check sees imports at all

    def circle_from(start, path):
        for nxt in graph[path[-1]]:
            if nxt == start:
                return path + [nxt]
            if nxt not in path:
                found = circle_from(start, path + [nxt])
                if found:
                    return found
        return None

    circles = [c for m in graph if (c := circle_from(m, [m]))]
    assert not circles, " -> ".join(circles[0])


def test_a_chunk_set_aside_is_queued_from_now(farm):
    """A training slice sets its chunk aside for a fresh message: the chunk's queued time is
    the moment it was set aside, so the reconciler gives that message a lease to be recorded
    before it calls it lost (it measured from the submit, long past)."""
    import time

    store = farm.store()
    job = new_job(farm, chunks=1)
    claim = store.claim(job, 0, worker="w", pid=1, lease_seconds=60, max_attempts=3)
    before = time.time()
    assert store.set_aside(job, 0, claim.token)
    chunk = store.chunk(job, 0)
    assert chunk["state"] == "queued" and chunk["attempts"] == 0
    assert float(chunk["queued_at"]) >= before
    assert not store.set_aside(job, 0, claim.token)  # no longer its owner
