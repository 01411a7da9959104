"""The render farm with a real redis-server and real worker processes (DESIGN §4, §6)."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import cli
from conftest import ROOT
from farm_harness import Farm, RedisServer, farm_with_workers, wait_for
from latentfx.video.reader import read_frames


@pytest.fixture(scope="module")
def farm(tmp_path_factory):
    yield from farm_with_workers(tmp_path_factory.mktemp("farm"), "w1")


def invoke(farm, *args):
    return CliRunner().invoke(cli.cli, [str(a) for a in args], env=farm.env,
                              catch_exceptions=False)


def submit(farm, *args) -> str:
    result = invoke(farm, *args, "--submit", "--queue", "cpu")
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[0]


def slow_walk_args(output="walk.mp4", frames=15):
    """The bundled model at 256x256: chunks take long enough to be killed mid-way."""
    return ["walk", "seed:1", "seed:2", "seed:3", "--frames", frames, "--size", "256x256",
            "-o", output]


def test_a_submitted_walk_equals_the_local_render(farm, tiny_spatial_model, shapes_folder,
                                                  tmp_path):
    keys = [shapes_folder / f"shape_{i:06d}.png" for i in (1, 2, 5)]
    options = ["--frames", 6, "--interp", "spline", "--pacing", "uniform", "--residual",
               "-m", tiny_spatial_model, "--device", "cpu"]
    job = submit(farm, "walk", *keys, *options, "-o", "walk.mp4")
    local = invoke(farm, "walk", *keys, *options, "-o", tmp_path / "local.mp4")
    assert local.exit_code == 0, local.output

    record = farm.wait_job(job)
    assert record["state"] == "succeeded", farm.logs()
    assert record["chunks"] == 2 and record["done"] == record["total"] == 13
    # The job store holds the spec as submit checked and resolved it.
    assert (record["spec"]["interp"], record["spec"]["ease"]) == ("spline", "linear")
    status = json.loads(invoke(farm, "status", job, "--json").stdout)
    assert (status["id"], status["state"], status["progress"]) == (job, "succeeded", 1.0)
    fetched = invoke(farm, "fetch", job, "-o", tmp_path / "fetched")
    assert fetched.exit_code == 0, fetched.output
    assert np.array_equal(read_frames(tmp_path / "fetched" / "walk.mp4"),
                          read_frames(tmp_path / "local.mp4"))
    manifest = json.loads((tmp_path / "fetched" / "walk.mp4.latentfx.json").read_text())
    assert manifest["results"]["frames"] == 13
    # What a local walk measures on its keyframes, the farm's assembly measures too.
    mine = json.loads((tmp_path / "local.mp4.latentfx.json").read_text())["results"]
    for key in ("keyframe_psnr", "keyframe_frames", "step_spread", "notes"):
        assert manifest["results"][key] == mine[key], key
    assert len(mine["keyframe_psnr"]) == 3 and None not in mine["keyframe_psnr"]
    # The inputs lived outside the storage root, so the CLI copied them into the job.
    assert all("/inputs/" in k for k in manifest["spec"]["keyframes"])
    listing = invoke(farm, "jobs")
    assert job in listing.output and "succeeded" in listing.output


def test_a_whole_job_runs_on_the_farm(farm, tiny_spatial_model, shapes_folder, tmp_path):
    job = submit(farm, "reconstruct", shapes_folder / "shape_000001.png", "-o", "grid.png",
                 "-m", tiny_spatial_model, "--device", "cpu")
    assert farm.wait_job(job)["state"] == "succeeded", farm.logs()
    assert invoke(farm, "fetch", job, "-o", tmp_path).exit_code == 0
    assert (tmp_path / "grid.png").exists() and (tmp_path / "grid.png.latentfx.json").exists()


def running_attempt(store, job, index, after=0):
    chunk = store.chunk(job, index)
    if chunk["state"] == "running" and chunk["attempts"] > after:
        return chunk
    return None


def test_a_pool_process_killed_mid_chunk_loses_nothing(farm):
    store = farm.store()
    job = submit(farm, *slow_walk_args())

    def mid_chunk():  # running, with some but not all of its 8 frames committed
        chunk = running_attempt(store, job, 1)
        done = len(store.committed_frames(job) & set(range(8, 16)))
        return chunk if chunk and 0 < done < 6 else None

    chunk = wait_for(mid_chunk, timeout=90, what="chunk 1 to be half done", interval=0.002)
    os.kill(int(chunk["pid"]), signal.SIGKILL)
    record = farm.wait_job(job)
    assert record["state"] == "succeeded", farm.logs()
    assert store.chunk(job, 1)["attempts"] == 2
    assert [a["chunk"] for a in store.attempts(job)].count(1) == 2
    # Every frame committed exactly once: the counter only moves on a first commit.
    assert record["done"] == record["total"] == len(store.committed_frames(job)) == 31
    assert len(read_frames(record["spec"]["output"])) == 31
    assert not list(Path(record["job_dir"]).rglob("*partial*"))


def test_a_chunk_that_kills_its_worker_every_time_fails_after_the_cap(farm):
    store = farm.store()
    job = submit(farm, *slow_walk_args("poison.mp4"))
    killed, stop = [], threading.Event()

    def kill_chunk_one():
        while not stop.is_set():
            chunk = running_attempt(store, job, 1, after=len(killed))
            if chunk:
                os.kill(int(chunk["pid"]), signal.SIGKILL)
                killed.append(chunk["attempts"])
            time.sleep(0.002)

    watcher = threading.Thread(target=kill_chunk_one, daemon=True)
    watcher.start()
    try:
        record = farm.wait_job(job, states=("failed",), timeout=180)
    finally:
        stop.set()
        watcher.join()
    chunks = record["chunk_list"]
    assert chunks[1]["state"] == "failed" and "gave up after 3 deliveries" in chunks[1]["error"]
    assert killed == [1, 2, 3]
    wait_for(lambda: all(c["state"] == "done" for i, c in enumerate(store.job(job)["chunk_list"])
                         if i != 1), timeout=60, what="the other chunks to finish")
    assert not Path(record["spec"]["output"]).exists()
    status = invoke(farm, "status", job)
    assert "failed" in status.output and "gave up after 3 deliveries" in status.output


def test_cancel_stops_at_a_frame_boundary_and_leaves_no_temp_files(farm):
    store = farm.store()
    job = submit(farm, *slow_walk_args("cancelled.mp4", frames=40))
    wait_for(lambda: running_attempt(store, job, 0), timeout=90, what="chunk 0 to start",
             interval=0.01)
    result = invoke(farm, "cancel", job)
    assert result.exit_code == 0 and "cancelled" in result.output
    wait_for(lambda: not any(c["state"] == "running" for c in store.job(job)["chunk_list"]),
             timeout=30, what="the running chunk to stop")
    record = store.job(job)
    assert record["state"] == "cancelled"
    assert record["done"] < record["total"]
    assert {c["state"] for c in record["chunk_list"]} <= {"cancelled", "done"}
    assert not Path(record["spec"]["output"]).exists()
    assert not list(Path(record["job_dir"]).rglob("*partial*"))
    assert json.loads(invoke(farm, "status", job, "--json").stdout)["state"] == "cancelled"


def test_the_worker_itself_refuses_a_path_outside_the_root(farm, tmp_path):
    """Anyone who can write to the broker can call a task: the worker checks again."""
    from workers.app import get_app
    from workers.task_names import RENDER_CHUNK

    store, outside = farm.store(), tmp_path / "escaped.mp4"
    spec = {"keyframes": ["seed:1", "seed:2"], "output": str(outside), "frames": 2}
    job = store.new_id()
    store.create(job, kind="walk", spec=spec, ranges=[(0, 3)], total=3, queue="cpu",
                 priority=5, job_dir=str(farm.storage / "jobs" / job), model_id=None)
    get_app(farm.settings()).send_task(RENDER_CHUNK, args=[job, 0], queue="cpu")
    record = farm.wait_job(job, states=("failed",), timeout=60)
    assert "outside the farm's storage root" in record["error"]
    assert not outside.exists()


def test_the_worker_works_only_in_the_jobs_own_folder(farm, tmp_path):
    """A record naming another job folder (the worker deletes <job_dir>/frames after a job)
    and a frames folder swapped for a link out of the root are both refused, and nothing is
    written or deleted outside the root."""
    from workers.app import get_app
    from workers.task_names import RENDER_CHUNK

    store, app = farm.store(), get_app(farm.settings())
    victim = tmp_path / "victim"
    (victim / "frames").mkdir(parents=True)
    (victim / "frames" / "keep.txt").write_text("not the farm's")
    outside = tmp_path / "outside"
    outside.mkdir()
    jobs = {}
    for case in ("foreign job_dir", "linked frames"):
        job = store.new_id()
        spec = {"keyframes": ["seed:1", "seed:2"], "frames": 2,
                "output": str(farm.storage / "jobs" / job / "out" / "w.mp4")}
        job_dir = farm.storage / "jobs" / job
        (job_dir / "out").mkdir(parents=True)
        if case == "linked frames":  # what a swap on the share after submit leaves
            (job_dir / "frames").symlink_to(outside, target_is_directory=True)
        store.create(job, kind="walk", spec=spec, ranges=[(0, 3)], total=3, queue="cpu",
                     priority=5, job_dir=str(victim if case == "foreign job_dir" else job_dir),
                     model_id=None)
        app.send_task(RENDER_CHUNK, args=[job, 0], queue="cpu")
        jobs[case] = job
    foreign = farm.wait_job(jobs["foreign job_dir"], states=("failed",), timeout=60)
    assert "job folder" in foreign["error"] and "not " + str(farm.storage.resolve()) in \
        foreign["error"]
    linked = farm.wait_job(jobs["linked frames"], states=("failed",), timeout=60)
    assert "frames folder" in linked["error"] and "may not be links" in linked["error"]
    assert (victim / "frames" / "keep.txt").exists() and list(outside.iterdir()) == []


def test_a_pickled_message_is_refused_unread(farm, tmp_path):
    import pickle

    from kombu import Connection

    from workers.task_names import RENDER_CHUNK

    marker = tmp_path / "pickle-ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    with Connection(farm.redis.url) as connection:
        producer = connection.Producer()
        producer.publish(pickle.dumps(Payload()), routing_key="cpu", exchange="cpu",
                         content_type="application/x-python-serialize",
                         content_encoding="binary",
                         headers={"task": RENDER_CHUNK, "id": "evil-1",
                                  "argsrepr": "", "kwargsrepr": ""})
    wait_for(lambda: "disallowed" in farm.logs().lower() or "ContentDisallowed" in farm.logs(),
             timeout=30, what="the worker to refuse the pickled message")
    assert not marker.exists()
    wait_for(lambda: any(d.get("id") == "evil-1" for d in farm.store().dead_letters(10)),
             timeout=10, what="the pickled message in the dead-letter list")


def test_malformed_messages_are_dead_lettered_and_the_worker_carries_on(
        farm, tiny_spatial_model, shapes_folder):
    """A message Celery would trip over, or an item in the queue's list that is no message
    at all, stopped every worker that read it; now each is kept with its reason, acked."""
    from kombu import Connection

    from workers.task_names import RENDER_CHUNK

    store = farm.store()
    before = store.dead_letter_count()
    bodies = {"poison-dict": {"a": 1}, "poison-path": [["../../etc/x", 0], {}, {}],
              "poison-unknown": [["0123456789ab", 0], {}, {}]}
    with Connection(farm.redis.url) as connection:
        producer = connection.Producer()
        for task_id, body in bodies.items():
            producer.publish(body, routing_key="cpu", exchange="cpu", serializer="json",
                             headers={"task": RENDER_CHUNK, "id": task_id})
    client = farm.redis.client()
    client.lpush("cpu", "{not json")
    client.lpush("cpu", '"a string, not an envelope"')
    wait_for(lambda: store.dead_letter_count() >= before + 5, timeout=60,
             what="the worker to dead-letter five items")
    job = submit(farm, "reconstruct", shapes_folder / "shape_000002.png", "-o", "after.png",
                 "-m", tiny_spatial_model, "--device", "cpu")
    assert farm.wait_job(job)["state"] == "succeeded", farm.logs()
    assert all(w.poll() is None for w in farm.workers), farm.logs()
    reasons = " | ".join(d["reason"] for d in store.dead_letters(5))
    for expected in ("task protocol 2", "job id (12 hex digits)", "unknown job '0123456789ab'",
                     "not a message: Expecting property name", "must be a JSON object"):
        assert expected in reasons
    assert client.llen("cpu") == 0  # acknowledged: nothing left to trip the next worker
    assert "malformed message(s) or record(s) kept" in invoke(farm, "doctor").output


def test_duplicate_completions_assemble_once(farm):
    """The fan-in, against the real Redis: many finishers, stale copies among them."""
    store = farm.store()
    job = store.new_id()
    store.create(job, kind="walk", spec={}, ranges=[(i, i + 1) for i in range(6)], total=6,
                 queue="cpu", priority=5, job_dir="unused", model_id=None)
    stale = [store.claim(job, i, worker="a", pid=1, lease_seconds=60, max_attempts=5)
             for i in range(6)]
    current = [store.claim(job, i, worker="b", pid=2, lease_seconds=60, max_attempts=5)
               for i in range(6)]
    outcomes = []

    def finish(claim, index):
        outcomes.append(store.finish(job, index, claim.token))

    threads = [threading.Thread(target=finish, args=(c, i))
               for _ in range(3) for claims in (stale, current) for i, c in enumerate(claims)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("assemble") == 1
    assert outcomes.count("superseded") == 18  # the stale copies may never finish a chunk
    assert store.commit_frame(job, 0, stale[0].token, 0) == -1  # nor commit a frame


def test_unknown_jobs_and_bad_settings_are_named(farm):
    result = invoke(farm, "status", "0123456789ab")
    assert result.exit_code == 3 and "unknown job '0123456789ab'" in result.output
    bad = {**farm.env, "LATENTFX_SOFT_LIMIT": "100", "LATENTFX_HARD_LIMIT": "50"}
    done = subprocess.run([sys.executable, "-c", "import cli; cli.main()", "worker"], cwd=ROOT,
                          env=bad, capture_output=True, text=True, timeout=60)
    assert done.returncode == 3 and "soft (100 s) < hard (50 s)" in done.stderr
    doctor = invoke(farm, "doctor")
    assert doctor.exit_code == 0 and "answers" in doctor.output and "w1@test" in doctor.output


def test_a_redis_restart_loses_nothing_queued(tmp_path, tiny_spatial_model):
    server = RedisServer(tmp_path / "redis").start()
    farm = Farm(server, tmp_path / "storage")
    try:
        job = submit(farm, "walk", "seed:1", "seed:2", "--frames", 20, "--size", "32x32",
                     "-m", tiny_spatial_model, "--device", "cpu", "-o", "w.mp4")
        server.kill()  # no worker has seen anything yet; the queue is only in Redis
        server.start()
        farm.start_worker("after-restart")
        record = farm.wait_job(job)
        assert record["state"] == "succeeded", farm.logs()
        assert len(read_frames(record["spec"]["output"])) == 21
    finally:
        farm.stop_workers()
        server.kill()


def test_retry_requeues_only_what_failed(farm):
    store = farm.store()
    job = submit(farm, *slow_walk_args("retried.mp4"))
    chunk = wait_for(lambda: running_attempt(store, job, 2), timeout=90,
                     what="chunk 2 to start", interval=0.002)
    farm.redis.client().hset(store.chunk_key(job, 2), "attempts", 99)  # next delivery: past the cap
    os.kill(int(chunk["pid"]), signal.SIGKILL)
    failed = farm.wait_job(job, states=("failed",))
    assert [c["state"] for c in failed["chunk_list"]].count("failed") == 1
    done_before = {i for i, c in enumerate(failed["chunk_list"]) if c["state"] == "done"}
    result = invoke(farm, "retry", job)
    assert result.exit_code == 0 and "re-queued 1 chunk(s)" in result.output
    record = farm.wait_job(job)
    assert record["state"] == "succeeded", farm.logs()
    assert all(store.chunk(job, i)["attempts"] == 1 for i in done_before)
    assert len(read_frames(record["spec"]["output"])) == 31


@pytest.mark.parametrize("error, batch_after", [
    (ConnectionResetError("broker went away"), 8),
    (RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"), 4),
])
def test_transient_errors_and_out_of_memory_go_back_in_the_queue(farm, error, batch_after):
    from workers.execution import _retry_or_fail

    store, settings = farm.store(), farm.settings()
    job = store.new_id()
    store.create(job, kind="walk", spec={"batch": 8}, ranges=[(0, 4)], total=4, queue="cpu",
                 priority=5, job_dir="unused", model_id=None)
    claim = store.claim(job, 0, worker="w", pid=1, lease_seconds=60, max_attempts=3)
    outcome = _retry_or_fail(store, settings, job, 0, claim.token, error, retries=1)
    assert outcome.result == "retrying" and outcome.cause is error
    assert 0 <= outcome.retry_after <= 4  # backoff for the second retry, with jitter
    assert store.chunk(job, 0)["state"] == "queued"
    assert store.job(job)["spec"]["batch"] == batch_after
    # A bug is not retried: the chunk fails with its message kept.
    claim = store.claim(job, 0, worker="w", pid=1, lease_seconds=60, max_attempts=3)
    outcome = _retry_or_fail(store, settings, job, 0, claim.token, KeyError("x"), retries=0)
    assert (outcome.result, outcome.retry_after) == ("failed", None)
    assert "KeyError" in store.chunk(job, 0)["error"]


def test_encode_and_map_run_on_the_farm_from_a_shared_folder(farm, tiny_vector_model,
                                                             shapes_folder, tmp_path):
    import shutil

    from latentfx.latents.stores import LatentStore

    shared = farm.storage / "shared" / "shapes"
    shutil.copytree(shapes_folder, shared)
    outside = invoke(farm, "encode", shapes_folder, "-o", "s.safetensors", "--submit",
                     "--queue", "cpu", "-m", tiny_vector_model)
    assert outside.exit_code == 3 and "must already be under the farm's storage root" \
        in outside.output
    job = submit(farm, "encode", shared, "-o", "s.safetensors", "-m", tiny_vector_model,
                 "--labels", shared / "labels.csv", "--device", "cpu", "--workers", 0)
    record = farm.wait_job(job)
    assert record["state"] == "succeeded", farm.logs()
    store_path = record["spec"]["output"]
    assert len(LatentStore.load(store_path)) == 48
    job = submit(farm, "map", store_path, "-o", "map.png")  # by the store's pooled features
    record = farm.wait_job(job)
    assert record["state"] == "succeeded", farm.logs()
    assert record["spec"]["features"] == "pooled"
    assert invoke(farm, "fetch", job, "-o", tmp_path).exit_code == 0
    assert (tmp_path / "map.png").exists() and (tmp_path / "map.html").exists()

    # A vector from the farm's store, applied on the farm together with a vector made
    # locally: the local vector file and the image are staged, the shared one is not.
    job = submit(farm, "vector", "--store", store_path, "--attr", "background_dark",
                 "-o", "dark.vec.safetensors")
    shared_vector = farm.wait_job(job)["spec"]["output"]
    assert farm.wait_job(job)["state"] == "succeeded", farm.logs()
    local_vector = tmp_path / "local.vec.safetensors"
    shutil.copy(shared_vector, local_vector)
    image = shapes_folder / "shape_000003.png"
    job = submit(farm, "apply", shared_vector, image, "--strength", 1.5,
                 "--vec", f"{local_vector}:-0.5", "-o", "dark.png", "-m", tiny_vector_model)
    record = farm.wait_job(job)
    assert record["state"] == "succeeded", farm.logs()
    vectors = record["spec"]["vectors"]
    assert vectors[0] == [shared_vector, 1.5]
    assert "/models/" in vectors[1][0] and vectors[1][1] == -0.5  # shared by its hash
    assert "/inputs/" in record["spec"]["image"]
    assert invoke(farm, "fetch", job, "-o", tmp_path).exit_code == 0
    assert (tmp_path / "dark.png").exists()

    # A degrees chain through the shared store, between two of its own images.
    job = submit(farm, "degrees", shared / "shape_000001.png", shared / "shape_000002.png",
                 "--pool", store_path, "-n", 3, "-k", 20, "--frames", 1, "--hold", 0,
                 "-o", "chain.mp4", "--sheet", "chain.png", "-m", tiny_vector_model,
                 "--features", "latent")
    record = farm.wait_job(job)
    assert record["state"] == "succeeded", farm.logs()
    assert record["spec"]["features"] == "latent"
    assert invoke(farm, "fetch", job, "-o", tmp_path).exit_code == 0
    results = json.loads((tmp_path / "chain.mp4.latentfx.json").read_text())["results"]
    chain = results["chain"]
    assert results["features"] == "latent"
    assert chain[0]["path"].endswith("shape_000001.png") and all(l["in_pool"] for l in chain)
    assert (tmp_path / "chain.png").exists()


def test_a_video_transfer_splits_into_chunks_and_keeps_its_sound(farm, tiny_spatial_model,
                                                                 tmp_path):
    from latentfx.video.reader import probe
    from test_transfer import make_video

    source = make_video(tmp_path / "in.mp4", frames=20, fps=10, noise=6.0)
    options = ["-m", tiny_spatial_model, "--smooth", 3, "--device", "cpu", "--batch", 4]
    job = submit(farm, "transfer", source, "-o", "moved.mp4", *options)
    local = invoke(farm, "transfer", source, "-o", tmp_path / "local.mp4", *options)
    assert local.exit_code == 0, local.output
    record = farm.wait_job(job)
    assert record["state"] == "succeeded", farm.logs()
    assert record["kind"] == "transfer-video" and record["chunks"] == 3
    assert invoke(farm, "fetch", job, "-o", tmp_path / "got").exit_code == 0
    fetched = tmp_path / "got" / "moved.mp4"
    assert probe(fetched).has_audio and probe(fetched).fps == 10.0
    ours, theirs = read_frames(fetched).astype(int), read_frames(tmp_path / "local.mp4")
    assert len(ours) == 20 and np.abs(ours - theirs).mean() < 1.0
