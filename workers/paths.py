"""Every path in a farm spec must stay inside the storage root (DESIGN §4). Checked when the
CLI submits and again by the worker, because anyone who can write to the broker can call a
task."""

from __future__ import annotations

import os
from pathlib import Path

from latentfx.errors import InputError
from latentfx.latents.stores import recorded_pictures
from latentfx.models.bundled import BUNDLED_MODELS
from latentfx.options import features_folder
from latentfx.walk.keyframes import parse_keyframe
from pipelines.specs import FEATURES, KEYFRAMES, PAIRS, Spec


class PathPolicyError(InputError):
    """A spec names a path outside the farm's storage root."""


MODELS = "models"  # under the storage root: staged .safetensors files, by content hash

def contained(path: str | os.PathLike, root: Path, *, what: str) -> Path:
    """The absolute path, resolved (symlinks followed), if it lies inside root; else
    PathPolicyError."""
    text = str(path)
    if "\x00" in text or "://" in text:
        raise PathPolicyError(f"{what} {text!r}: not a plain file path")
    if not os.path.isabs(text):
        # A worker's working folder is nobody's business: specs carry absolute paths only.
        raise PathPolicyError(f"{what} {text!r}: farm specs take absolute paths only")
    resolved = Path(text).resolve()
    if resolved != root and root not in resolved.parents:
        raise PathPolicyError(f"{what} {text!r}: outside the farm's storage root {root}; "
                              f"farm jobs may only read and write inside it")
    return resolved


def input_paths(spec_class: type[Spec], spec: dict) -> list[tuple[str, str]]:
    """(field, path) for every file a spec reads, model included (bundled names excluded)."""
    found = []
    for field in spec_class.input_fields():
        values = spec.get(field.name) or []
        for value in ([values] if isinstance(values, str) else values):
            if field.form == PAIRS:
                value = value[0]  # (vector file, strength): only the file is a path
            if field.form == FEATURES:
                value = features_folder(value)  # clip:DIR reads DIR; pooled, latent nothing
                if value is None:
                    continue
            if field.form == KEYFRAMES:
                key = parse_keyframe(value)
                if key.store is not None:
                    found.append((field.name, str(key.store)))  # STORE:entry reads the store
                if not key.is_image:
                    continue  # seed:N, or the store entry just added
            found.append((field.name, value))
    model = spec.get("model")
    if model and not (model in BUNDLED_MODELS and not Path(model).exists()):
        found.append(("model", model))
    return found + _store_image_folders(spec_class, spec)


def _store_image_folders(spec_class: type[Spec], spec: dict) -> list[tuple[str, str]]:
    """A job that shows a store's images reads them from the folder the store recorded
    (unless the spec's `folder` names one): that folder is an input too, and must pass the
    same check."""
    if spec.get("folder"):
        return []
    return [("store's image folder", folder) for folder, _ in _store_pictures(spec_class, spec)
            if folder]


def _store_entries(spec_class: type[Spec], spec: dict) -> list[str]:
    """Every picture such a job may read: each entry of the store, in the folder it is read
    from. An entry is a path relative to that folder, but a store is a file anyone may
    write: `/elsewhere/a.png` or `../../b.png` would read outside the root."""
    return [str(Path(spec.get("folder") or folder) / entry)
            for folder, entries in _store_pictures(spec_class, spec) for entry in entries]


def _store_pictures(spec_class: type[Spec], spec: dict) -> list[tuple[str, list[str]]]:
    """(recorded folder, entries) of each store whose pictures the job shows."""
    found = []
    for field in spec_class.input_fields():
        store = spec.get(field.name) if field.store_images else None
        if store and Path(store).is_file():
            found.append(recorded_pictures(store))
    return found


def check_job_dir(job: str, job_dir: str, root: Path) -> Path:
    """A job's folder is `<root>/jobs/<id>` and nothing else, symlinks resolved: a record
    naming another folder (the worker writes frames there and deletes them after) or a job
    folder swapped for a link out of the root is refused."""
    expected = root / "jobs" / job
    if Path(job_dir).resolve() != expected:
        raise PathPolicyError(f"job folder {job_dir!r}: not {expected} (symlinks resolved); "
                              f"a farm job works only in its own folder under the storage root")
    return expected


def check_inside(path: Path, expected: Path, *, what: str) -> Path:
    """`path` itself, not a link somewhere else: it resolves to `expected`."""
    if path.resolve() != expected:
        raise PathPolicyError(f"{what} {path}: resolves to {path.resolve()}, not {expected}; "
                              f"a farm job's folders may not be links")
    return path


def check_spec(spec_class: type[Spec], spec: dict, root: Path) -> None:
    """Refuse a spec that reads or writes anything outside root."""
    for field, value in input_paths(spec_class, spec):
        contained(value, root, what=f"{field}")
    for value in _store_entries(spec_class, spec):
        contained(value, root, what="store entry")
    for field in spec_class.output_fields():
        if spec.get(field):
            contained(str(spec[field]).rstrip("/") or "/", root, what=field)
