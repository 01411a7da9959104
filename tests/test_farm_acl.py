"""The Redis users that scripts/redis-users.sh makes for docker-compose.yml, against a real
redis-server: a worker logged in as `worker` and a CLI logged in as `submit` run a job;
neither may administer Redis, and Flower's user writes nothing of the farm's."""

import subprocess

import pytest
import redis

from conftest import ROOT
from farm_harness import PASSWORD, Farm, RedisServer
from test_farm import submit

USERS = {"REDIS_PASSWORD": PASSWORD, "REDIS_WORKER_PASSWORD": "worker pw/@:%",
         "REDIS_SUBMIT_PASSWORD": "submit-pw", "REDIS_FLOWER_PASSWORD": "flower-pw"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("acl")
    acl = base / "users.acl"
    subprocess.run(["sh", str(ROOT / "scripts" / "redis-users.sh"), str(acl)], env=USERS,
                   check=True)
    assert "pw" not in acl.read_text()  # digests only
    server = RedisServer(base / "redis", "--aclfile", acl).start()
    yield server
    server.kill()


def as_user(server, user: str, password: str):
    return redis.Redis(host="127.0.0.1", port=server.port, username=user, password=password)


def test_workers_and_submitters_log_in_as_their_own_users(server, tmp_path,
                                                          tiny_spatial_model):
    url = f"redis://worker@127.0.0.1:{server.port}/0"
    farm = Farm(server, tmp_path / "storage", LATENTFX_REDIS_URL=url,
                LATENTFX_REDIS_PASSWORD=USERS["REDIS_WORKER_PASSWORD"])
    try:
        farm.start_worker("acl")
        submitter = Farm(server, tmp_path / "storage",
                         LATENTFX_REDIS_URL=f"redis://submit@127.0.0.1:{server.port}/0",
                         LATENTFX_REDIS_PASSWORD=USERS["REDIS_SUBMIT_PASSWORD"])
        job = submit(submitter, "walk", "seed:1", "seed:2", "--frames", 6, "--size", "32x32",
                     "-m", tiny_spatial_model, "--device", "cpu", "-o", "acl.mp4")
        record = farm.wait_job(job)
        assert record["state"] == "succeeded", farm.logs()
    finally:
        farm.stop_workers()


@pytest.mark.parametrize("user", ["worker", "submit", "flower"])
def test_no_farm_user_may_administer_redis(server, user):
    client = as_user(server, user, USERS[f"REDIS_{user.upper()}_PASSWORD"])
    for command in (("FLUSHALL",), ("CONFIG", "SET", "appendonly", "no"), ("ACL", "LIST")):
        with pytest.raises(redis.exceptions.NoPermissionError):
            client.execute_command(*command)


def test_flower_writes_nothing_of_the_farms(server):
    flower = as_user(server, "flower", USERS["REDIS_FLOWER_PASSWORD"])
    flower.get("lfx:farm")  # reading is allowed
    for command in (("SET", "lfx:farm", "x"), ("DEL", "lfx:jobs"), ("LPUSH", "cpu", "x")):
        with pytest.raises(redis.exceptions.NoPermissionError):
            flower.execute_command(*command)
