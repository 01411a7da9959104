"""The farm's identity: a random id kept both in the storage root (a marker file) and in
Redis. A worker whose storage root does not hold the marker that Redis names is looking at
another farm's folder, or at an empty folder where a share should be mounted; it refuses
work then, rather than failing jobs whose files it cannot see.

The id is made by whichever comes first on a new farm, the first submit or the first worker
start (neither finds an id in Redis nor a marker in the root). A root that has a marker
while Redis has none (Redis was reset) gives Redis its id back."""

from __future__ import annotations

import secrets
from pathlib import Path

from latentfx.io.atomic import atomic_path

from .settings import ConfigError

MARKER = ".latentfx-farm"


class NotThisFarm(ConfigError):
    """The storage root does not hold this farm's marker: wrong folder, or a share that is
    not mounted."""


def marker_of(root: Path) -> str | None:
    """The farm id the storage root's marker holds, or None when there is none."""
    try:
        return (root / MARKER).read_text().strip() or None
    except OSError:  # absent, or the share went away under us
        return None


def ensure_farm(root: Path, store) -> str:
    """The farm's id, made on a new farm; raises NotThisFarm when the root and Redis
    disagree."""
    known, marked = store.farm_id(), marker_of(root)
    if known is None and marked is None:
        # Redis first (set only if unset), so two first starts agree on one id.
        known = store.adopt_farm_id(secrets.token_hex(16))
        if marker_of(root) is None:
            with atomic_path(root / MARKER) as tmp:
                tmp.write_text(known + "\n")
    elif known is None:
        known = store.adopt_farm_id(marked)
    check_farm(root, store, known=known)
    return known


def check_farm(root: Path, store, *, known: str | None = None) -> None:
    """Raise NotThisFarm unless the root's marker holds the id Redis holds."""
    known = known or store.farm_id()
    marked = marker_of(root)
    if marked == known:
        return
    if marked is None:
        raise NotThisFarm(
            f"storage root {root} holds no farm marker ({MARKER}) although Redis belongs to "
            f"farm {known}: the shared storage is probably not mounted here, or "
            f"LATENTFX_STORAGE points at the wrong folder; mount the farm's storage at {root} "
            f"(or set LATENTFX_STORAGE to where it is) and start again")
    raise NotThisFarm(
        f"storage root {root} belongs to farm {marked}, but Redis belongs to farm {known}: "
        f"this machine sees another farm's storage; set LATENTFX_STORAGE (or "
        f"LATENTFX_REDIS_URL) so that both name the same farm")


def root_is_ours(root: Path, known: str) -> bool:
    """Whether the root still holds the farm's marker (a running worker checks this before
    each chunk: a share can be unmounted under it)."""
    return marker_of(root) == known
