"""Farm rules that need no worker: settings, Celery config, path policy, retry policy,
the compose file."""

import pytest

from conftest import ROOT
from latentfx.errors import InputError
from pipelines.walk import WalkSpec
from workers.app import celery_config
from latentfx.runtime.oom import is_out_of_memory
from workers.execution import backoff
from workers.paths import PathPolicyError, check_spec
from workers.settings import ConfigError, FarmSettings, from_environment


def test_time_limits_must_be_ordered():
    with pytest.raises(ConfigError, match="soft"):
        FarmSettings(soft_limit=3600, hard_limit=3600)
    with pytest.raises(ConfigError, match="visibility timeout"):
        FarmSettings(soft_limit=10, hard_limit=3600, visibility_timeout=3600)
    assert from_environment({"LATENTFX_HARD_LIMIT": "100", "LATENTFX_SOFT_LIMIT": "50"}) \
        .visibility_timeout == 200


def test_celery_config_is_json_only_with_late_acks_and_one_visibility_timeout():
    settings = FarmSettings(soft_limit=10, hard_limit=20, visibility_timeout=40)
    conf = celery_config(settings)
    assert conf["accept_content"] == ["json"] and conf["task_serializer"] == "json"
    assert conf["task_acks_late"] and conf["task_reject_on_worker_lost"]
    assert conf["worker_prefetch_multiplier"] == 1
    assert conf["task_soft_time_limit"] < conf["task_time_limit"]
    assert conf["broker_transport_options"]["visibility_timeout"] == \
        conf["result_backend_transport_options"]["visibility_timeout"] == \
        conf["visibility_timeout"] == 40


def test_password_from_its_own_variable_is_kept_out_of_the_printed_url():
    settings = from_environment({"LATENTFX_REDIS_URL": "redis://farm:6379/0",
                                 "LATENTFX_REDIS_PASSWORD": "s3cr/t"})
    assert settings.redis_url == "redis://:s3cr%2Ft@farm:6379/0"
    assert "s3cr" not in settings.redacted_url()


@pytest.mark.parametrize("path", ["../x.mp4", "/etc/passwd", "a/../../x.mp4",
                                  "file:///etc/passwd", "http://example.com/a.png", "a\x00b"])
def test_paths_outside_the_root_are_refused(tmp_path, path, monkeypatch):
    root = tmp_path / "root"
    (root / "jobs").mkdir(parents=True)
    monkeypatch.chdir(root / "jobs")
    spec = {"keyframes": ["seed:1", path], "output": str(root / "ok.mp4")}
    with pytest.raises(PathPolicyError):
        check_spec(WalkSpec, spec, root)
    with pytest.raises(PathPolicyError):
        check_spec(WalkSpec, {"keyframes": ["seed:1"], "output": path}, root)


def test_a_symlink_out_of_the_root_is_refused(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "secret.png").write_bytes(b"x")
    (root / "link.png").symlink_to(tmp_path / "secret.png")
    with pytest.raises(PathPolicyError):
        check_spec(WalkSpec, {"keyframes": [str(root / "link.png"), "seed:1"],
                              "output": str(root / "w.mp4")}, root)
    check_spec(WalkSpec, {"keyframes": ["seed:1", "seed:2"], "model": "default",
                          "output": str(root / "w.mp4")}, root)


def test_retry_policy():
    assert all(0 <= backoff(n) <= min(120, 2 * 2 ** n) for n in range(8) for _ in range(20))
    assert len({round(backoff(3), 6) for _ in range(20)}) > 1  # jitter
    assert is_out_of_memory(RuntimeError("CUDA out of memory. Tried to allocate 2 GiB"))
    assert not is_out_of_memory(InputError("bad file"))


def test_the_compose_file_keeps_redis_private_and_flower_behind_a_login():
    import yaml

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    redis = services["redis"]
    assert "ports" not in redis
    command = " ".join(redis["command"])
    for flag in ("redis-users.sh", "--aclfile", "--appendonly yes", "--maxmemory-policy noeviction"):
        assert flag in command
    assert "PASSWORD" not in command  # passwords come from the environment, never argv
    health = " ".join(redis["healthcheck"]["test"])
    assert "-a " not in health and "REDISCLI_AUTH" in redis["environment"]
    gpu = services["worker-gpu"]
    device = gpu["deploy"]["resources"]["reservations"]["devices"][0]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]
    assert gpu["command"][gpu["command"].index("--concurrency") + 1] == "1"
    flower = services["flower"]
    assert "FLOWER_BASIC_AUTH" in flower["environment"]
    assert "PASSWORD}" not in " ".join(flower["command"])  # not interpolated into argv
    assert all(p.startswith("127.0.0.1:") for p in flower["ports"])
    users = {}
    for name in ("worker-cpu", "worker-gpu", "cli"):
        env = services[name]["environment"]
        assert {"LATENTFX_REDIS_URL", "LATENTFX_REDIS_PASSWORD", "LATENTFX_STORAGE"} <= set(env)
        users[name] = env["LATENTFX_REDIS_URL"].split("//")[1].split("@")[0]
    assert users == {"worker-cpu": "worker", "worker-gpu": "worker", "cli": "submit"}
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "chown latentfx:latentfx /farm" in dockerfile and "USER latentfx" in dockerfile


def example_env() -> dict:
    lines = (ROOT / "farm.env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def test_the_example_passwords_are_refused_as_they_are():
    from workers.settings import EXAMPLE_PASSWORDS, ConfigError, from_environment

    examples = {v for k, v in example_env().items() if k.endswith("_PASSWORD")}
    assert examples == EXAMPLE_PASSWORDS
    for password in examples:
        with pytest.raises(ConfigError, match="example value"):
            from_environment({"LATENTFX_REDIS_PASSWORD": password})
        with pytest.raises(ConfigError, match="example value"):
            from_environment({"LATENTFX_REDIS_URL": f"redis://worker:{password}@redis:6379/0"})
    assert from_environment({"LATENTFX_REDIS_PASSWORD": "a b@c/d"}).redis_url == \
        "redis://:a%20b%40c%2Fd@127.0.0.1:6379/0"


def test_the_worker_takes_its_redis_password_from_a_file(tmp_path):
    from workers.settings import ConfigError, from_environment

    secret = tmp_path / "redis-password"
    secret.write_text("s3cret pw\n")
    settings = from_environment({"LATENTFX_REDIS_PASSWORD_FILE": str(secret)})
    assert settings.redis_url == "redis://:s3cret%20pw@127.0.0.1:6379/0"
    with pytest.raises(ConfigError, match="LATENTFX_REDIS_PASSWORD_FILE"):
        from_environment({"LATENTFX_REDIS_PASSWORD_FILE": str(tmp_path / "absent")})


def test_a_store_entry_keyframe_outside_the_root_is_refused(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(PathPolicyError):
        check_spec(WalkSpec, {"keyframes": [f"{tmp_path}/s.safetensors:a.png", "seed:1"],
                              "output": str(root / "w.mp4")}, root)
    check_spec(WalkSpec, {"keyframes": [f"{root}/s.safetensors:a.png", "seed:1"],
                          "output": str(root / "w.mp4")}, root)


@pytest.mark.parametrize("entry", ["/elsewhere/photo1.png", "../../../photo2.png"])
def test_a_store_entry_outside_the_root_is_refused(tmp_path, entry):
    """A store is a file anyone may write: the pictures it names must lie inside the root
    as well as the folder it records."""
    import torch

    from latentfx.latents.stores import LatentStore
    from pipelines.map import MapSpec

    root = tmp_path / "root"
    (root / "pictures").mkdir(parents=True)
    store = root / "s.safetensors"
    LatentStore(latents=torch.zeros(2, 4), paths=["a.png", entry], hashes=["0" * 64] * 2,
                model_id="m", size=(8, 8), fit="crop", folder=str(root / "pictures")).save(store)
    spec = {"store": str(store), "output": str(root / "map.png")}
    with pytest.raises(PathPolicyError, match="store entry"):
        check_spec(MapSpec, spec, root)
    with pytest.raises(PathPolicyError, match="store entry"):  # a folder given instead
        check_spec(MapSpec, {**spec, "folder": str(root / "pictures")}, root)
    LatentStore(latents=torch.zeros(1, 4), paths=["a.png"], hashes=["0" * 64], model_id="m",
                size=(8, 8), fit="crop", folder=str(root / "pictures")).save(store)
    check_spec(MapSpec, spec, root)
