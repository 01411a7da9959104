"""Farm settings from the environment, checked before anything starts.

LATENTFX_REDIS_URL       redis://[:password@]host:port/db (default redis://127.0.0.1:6379/0);
                         the broker and our job store. A password may also come from
                         LATENTFX_REDIS_PASSWORD, or from the file LATENTFX_REDIS_PASSWORD_FILE
                         names (a Docker secret), so it need not appear in the URL. The
                         example passwords of farm.env.example are refused.
LATENTFX_STORAGE         the shared storage root every worker and the CLI see (required to
                         submit or run a worker).
LATENTFX_SOFT_LIMIT      seconds a chunk may run before it is asked to stop (default 1800);
                         a training run goes in slices of 0.8 of it, each checkpointed
LATENTFX_HARD_LIMIT      seconds before its process is killed (default 2100)
LATENTFX_VISIBILITY      seconds before Redis hands an unacknowledged message to another
                         worker (default 2 x hard limit)
LATENTFX_MAX_ATTEMPTS    deliveries of one chunk before it is marked failed (default 3)
LATENTFX_CHUNK_FRAMES    frames per chunk of a walk (default 48)
LATENTFX_RECORD_DAYS     days a finished job (succeeded, failed, cancelled) is kept: then its
                         record, frames and staged inputs are removed, as `latentfx purge`
                         does (default 30; its outputs stay)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from latentfx.errors import LatentfxError


class ConfigError(LatentfxError):
    """The farm's settings are inconsistent or missing; the message says which and why."""


# farm.env.example's values (tests/test_farm_policy.py keeps the two equal): a farm started
# with them as they are has passwords that anyone who read the repository knows.
EXAMPLE_PASSWORDS = frozenset({"change-me-admin-password", "change-me-worker-password",
                               "change-me-submit-password", "change-me-flower-password"})


@dataclass(frozen=True)
class FarmSettings:
    redis_url: str = "redis://127.0.0.1:6379/0"
    storage: Path | None = None
    soft_limit: float = 1800.0
    hard_limit: float = 2100.0
    visibility_timeout: float = 4200.0
    max_attempts: int = 3
    chunk_frames: int = 48
    lease: float = field(default=0.0)  # 0: derived from the hard limit
    record_days: float = 30.0

    def __post_init__(self):
        # Ordering that keeps one chunk from running twice by accident (research §1.2):
        # a chunk is asked to stop, then killed, before Redis would redeliver its message.
        if not 0 < self.soft_limit < self.hard_limit < self.visibility_timeout:
            raise ConfigError(f"farm time limits must satisfy 0 < soft ({self.soft_limit:g} s) "
                              f"< hard ({self.hard_limit:g} s) < visibility timeout "
                              f"({self.visibility_timeout:g} s); otherwise Redis redelivers "
                              f"chunks that are still running")
        if self.max_attempts < 1:
            raise ConfigError(f"LATENTFX_MAX_ATTEMPTS must be at least 1, got {self.max_attempts}")
        if self.record_days <= 0:
            raise ConfigError(f"LATENTFX_RECORD_DAYS must be more than 0, got "
                              f"{self.record_days:g} (finished jobs would vanish at once)")
        if self.chunk_frames < 1:
            raise ConfigError(f"LATENTFX_CHUNK_FRAMES must be at least 1, got {self.chunk_frames}")

    @property
    def lease_seconds(self) -> float:
        """How long a running chunk's claim lasts without a heartbeat. Heartbeats come every
        batch; the reconciler re-queues a chunk whose lease ran out (its worker died)."""
        return self.lease or max(10.0, self.hard_limit / 10)

    def storage_root(self) -> Path:
        if self.storage is None:
            raise ConfigError("LATENTFX_STORAGE is not set: point it at the folder that the CLI "
                              "and every worker share (the farm's storage root)")
        root = self.storage.resolve()
        if not root.is_dir():
            raise ConfigError(f"LATENTFX_STORAGE={self.storage}: no such folder; create it "
                              f"(and share it with every worker)")
        return root

    def storage_root_path(self) -> Path:
        """The storage root as configured, whether or not it is there right now."""
        if self.storage is None:
            return self.storage_root()  # raises, naming the setting
        return self.storage.resolve()

    def redacted_url(self) -> str:
        parts = urlsplit(self.redis_url)
        if parts.password is None:
            return self.redis_url
        host = parts.hostname + (f":{parts.port}" if parts.port else "")
        user = parts.username or ""
        return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def from_environment(env: dict | None = None) -> FarmSettings:
    env = os.environ if env is None else env
    url = env.get("LATENTFX_REDIS_URL", FarmSettings.redis_url)
    password = env.get("LATENTFX_REDIS_PASSWORD") or _password_file(env)
    if password in EXAMPLE_PASSWORDS or unquote(urlsplit(url).password or "") in EXAMPLE_PASSWORDS:
        raise ConfigError("the Redis password is farm.env.example's example value; set a "
                          "long random one of your own in .env (REDIS_*_PASSWORD) and "
                          "restart Redis and the farm")
    if password and urlsplit(url).password is None:
        parts = urlsplit(url)
        host = parts.hostname + (f":{parts.port}" if parts.port else "")
        url = urlunsplit(parts._replace(netloc=f"{parts.username or ''}:{quote(password, safe='')}@{host}"))
    hard = _number(env, "LATENTFX_HARD_LIMIT", FarmSettings.hard_limit)
    storage = env.get("LATENTFX_STORAGE")
    return FarmSettings(
        redis_url=url,
        storage=Path(storage) if storage else None,
        soft_limit=_number(env, "LATENTFX_SOFT_LIMIT", FarmSettings.soft_limit),
        hard_limit=hard,
        visibility_timeout=_number(env, "LATENTFX_VISIBILITY", 2 * hard),
        max_attempts=int(_number(env, "LATENTFX_MAX_ATTEMPTS", FarmSettings.max_attempts)),
        chunk_frames=int(_number(env, "LATENTFX_CHUNK_FRAMES", FarmSettings.chunk_frames)),
        lease=_number(env, "LATENTFX_LEASE", 0.0),
        record_days=_number(env, "LATENTFX_RECORD_DAYS", FarmSettings.record_days),
    )


def _password_file(env) -> str | None:
    name = env.get("LATENTFX_REDIS_PASSWORD_FILE")
    if not name:
        return None
    try:
        return Path(name).read_text().strip()
    except OSError as exc:
        raise ConfigError(f"LATENTFX_REDIS_PASSWORD_FILE={name}: cannot read it "
                          f"({exc.strerror}); point it at the file holding the password") from None


def _number(env, name: str, default: float) -> float:
    text = env.get(name)
    if text is None or text == "":
        return default
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"{name}={text!r} is not a number") from None
