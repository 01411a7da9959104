"""The end of a finished job's life: its record, frames and staged inputs are removed once it
is older than a number of days, by `latentfx purge --older-than N` or by the reconciler when
it passes LATENTFX_RECORD_DAYS. Outputs in the job's out/ folder stay (they are the
results); a shared model (<root>/models/) goes only when no remaining job refers to it.
Queued and running jobs are never touched."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from latentfx.errors import LatentfxError

from .paths import MODELS, check_job_dir
from .store import ENDED, DamagedRecord, JobStore, UnknownJob

DAY = 86_400.0
REUSED_GRACE = 3600.0  # s: a shared model used this recently may belong to a job being sent
REMOVED_FOLDERS = ("frames", "inputs")  # of a job's folder; out/ holds its results


@dataclass
class Purged:
    jobs: list[str] = field(default_factory=list)     # records removed
    paths: list[Path] = field(default_factory=list)   # folders and shared models removed


def purge(store: JobStore, root: Path, *, older_than_days: float,
          dry_run: bool = False) -> Purged:
    """Remove the jobs that ended more than `older_than_days` ago (0: every ended job);
    with `dry_run`, only say what would go."""
    cutoff = time.time() - older_than_days * DAY
    purged, kept = Purged(), []
    for job in store.all_job_ids():
        record = _readable(store, job)
        if record is None:
            continue
        if record["state"] not in ENDED or float(record.get("finished") or "inf") > cutoff:
            kept.append(record)
            continue
        folders = _job_folders(record, root)
        if not dry_run and not store.remove(job):
            kept.append(record)  # reopened by a retry since it was read
            continue
        purged.jobs.append(job)
        purged.paths += folders
    purged.paths += _unused_models(root, kept)
    if not dry_run:
        for path in purged.paths:
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    return purged


def _readable(store: JobStore, job: str) -> dict | None:
    try:
        return store.job(job)
    except (UnknownJob, DamagedRecord):  # gone meanwhile, or for `status` to show as damaged
        return None


def _job_folders(record: dict, root: Path) -> list[Path]:
    """The job's frames and inputs folders that exist; none for a record naming a folder
    that is not its own (the worker's confinement, here for deletion)."""
    try:
        folder = check_job_dir(record["id"], record["job_dir"], root)
    except LatentfxError:
        return []
    return [folder / name for name in REMOVED_FOLDERS if (folder / name).is_dir()]


def _unused_models(root: Path, kept: list[dict]) -> list[Path]:
    """Shared models that no kept job's spec names (and that no submit just reused: each
    use touches the file)."""
    folder = root / MODELS
    if not folder.is_dir():
        return []
    named = "\n".join(str(record["spec"]) for record in kept)
    recent = time.time() - REUSED_GRACE
    return [path for path in sorted(folder.iterdir())
            if path.is_file() and path.name not in named and path.stat().st_mtime < recent]
