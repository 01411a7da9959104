"""Submitting a job: check its spec, stage its inputs under the storage root, record it in
the job store and queue its chunks."""

from __future__ import annotations

import shutil
from pathlib import Path

from latentfx.errors import InputError
from latentfx.images.loading import IMAGE_EXTENSIONS
from latentfx.io.atomic import atomic_path
from latentfx.io.safetensors_files import file_sha256
from latentfx.video.reader import VIDEO_EXTENSIONS
from pipelines.registry import JOBS, JobKind
from pipelines.specs import Spec

from .identity import ensure_farm
from .paths import MODELS, check_spec, contained, input_paths
from .queueing import enqueue_chunks
from .settings import FarmSettings

SAFETENSORS, VECTOR_SUFFIX = ".safetensors", ".vec.safetensors"
# Names a safetensors file goes by: FLUX's original autoencoder release is `ae.sft`.
SAFETENSORS_NAMES = (SAFETENSORS, ".sft")
LABEL_TABLES = {".csv"}  # encode --labels, train --labels: rows name paths within the folder


def submit(kind_name: str, spec, settings: FarmSettings, *, queue: str = "gpu",
           priority: int = 5) -> str:
    """Queue `spec` (a pipeline Spec) as a farm job; returns the job id. The job store
    records the spec checked and resolved, with its paths staged: what every chunk renders."""
    from latentfx.models.sources import model_id as model_file_id

    from .app import get_app
    from .store import MAX_CHUNKS, JobStore

    kind = JOBS[kind_name]
    spec_class = kind.spec_class
    root = settings.storage_root()
    if not 0 <= priority <= 9:
        raise InputError(f"--priority must be between 0 and 9, got {priority}")
    store = JobStore.from_url(settings.redis_url)
    ensure_farm(root, store)  # a new farm gets its id here, or at its first worker's start
    fields = spec.to_dict()
    job = JobStore.new_id()
    staging = _job_folder(root / "jobs" / job)
    try:
        fields = _stage_inputs(spec_class, fields, root, staging)
        fields = _place_outputs(spec_class, fields, root, staging)
        spec = spec_class.from_dict(fields).checked()
        check_spec(spec_class, spec.to_dict(), root)
        ranges, total = _plan(kind, spec, settings.chunk_frames)
        if len(ranges) > MAX_CHUNKS:
            raise InputError(f"{total} frames make {len(ranges)} chunks of "
                             f"{settings.chunk_frames}; a farm job has at most {MAX_CHUNKS}: "
                             f"raise LATENTFX_CHUNK_FRAMES")
        # Jobs that read a store (map) take their model from it.
        model_id = model_file_id(spec.model) if hasattr(spec, "model") else None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    store.create(job, kind=kind_name, spec=spec.to_dict(), ranges=ranges,
                 total=total, queue=queue, priority=priority, job_dir=str(staging),
                 model_id=model_id)
    enqueue_chunks(get_app(settings), store, job, range(len(ranges)), queue=queue,
                   priority=priority)
    return job


def _job_folder(folder: Path) -> Path:
    folder.parent.mkdir(parents=True, exist_ok=True)
    folder.mkdir()
    (folder / "inputs").mkdir()
    (folder / "out").mkdir()
    return folder


def _stage_inputs(spec_class: type[Spec], fields: dict, root: Path, job_dir: Path) -> dict:
    """Single files outside the root are copied under it (_staged), and the spec is pointed
    at the copies; files inside stay where they are (as absolute paths)."""
    files = {value for _, value in input_paths(spec_class, fields)}
    local: dict[str, str] = {}
    for value in sorted(files):
        source = Path(value)
        if source.is_dir():  # folders are too big to copy per job: they must be shared
            local[value] = str(_folder_in_root(source, root))
            continue
        if not source.is_file():
            raise InputError(f"{value}: no such file to send to the farm")
        try:
            local[value] = str(contained(source.resolve(), root, what="input"))
        except InputError:
            local[value] = str(_staged(source, root, job_dir, len(local)))

    return spec_class.map_inputs(fields, lambda _, path: local.get(path, path))


def _staged(source: Path, root: Path, job_dir: Path, n: int) -> Path:
    """A copy under the root of an input file from outside it: a .safetensors file (model,
    latent store, vector) once per content in the shared models/ folder, an image or a video
    in the job's inputs/ folder; any other file is refused (only those are inputs)."""
    name = source.name.lower()
    if name.endswith(SAFETENSORS_NAMES):
        return _shared_copy(source, root / MODELS)
    if source.suffix.lower() not in IMAGE_EXTENSIONS | VIDEO_EXTENSIONS | LABEL_TABLES:
        raise InputError(f"{source}: not an input the farm takes; it stages only images "
                         f"({', '.join(sorted(IMAGE_EXTENSIONS))}), videos "
                         f"({', '.join(sorted(VIDEO_EXTENSIONS))}), label tables (.csv) and "
                         f".safetensors (.sft) files (models, latent stores, vectors); name one "
                         f"of those")
    target = job_dir / "inputs" / f"{n:03d}-{source.name}"
    shutil.copy2(source, target)
    return target


def _shared_copy(source: Path, folder: Path) -> Path:
    """<folder>/<sha256>.safetensors (or .vec.safetensors), written once, atomically: jobs
    that send the same model share one copy; `latentfx purge` removes it when no job is
    left that refers to it."""
    suffix = VECTOR_SUFFIX if source.name.lower().endswith(VECTOR_SUFFIX) else SAFETENSORS
    target = folder / f"{file_sha256(source)}{suffix}"
    if target.exists():
        target.touch()  # in use again: purge leaves a model used within the hour
        return target
    folder.mkdir(exist_ok=True)
    with atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)
    return target


def _folder_in_root(folder: Path, root: Path) -> Path:
    try:
        return contained(folder.resolve(), root, what="folder")
    except InputError:
        raise InputError(f"{folder}: a folder input must already be under the farm's storage "
                         f"root {root} (LATENTFX_STORAGE), so that every worker sees it; "
                         f"move or copy it there and submit again") from None


def _place_outputs(spec_class: type[Spec], fields: dict, root: Path, job_dir: Path) -> dict:
    """Relative outputs go into the job's out/ folder; absolute ones must be inside root."""
    fields = dict(fields)
    for field in spec_class.output_fields():
        value = fields.get(field)
        if not value:
            continue
        path = Path(value)
        if not path.is_absolute():
            if ".." in path.parts:
                raise InputError(f"{field} {value!r}: a farm output may not climb out of its "
                                 f"job folder")
            path = job_dir / "out" / path
            path.parent.mkdir(parents=True, exist_ok=True)
        fields[field] = str(path) + ("/" if str(value).endswith("/") else "")
    return fields


def _plan(kind: JobKind, spec: Spec, chunk_frames: int) -> tuple[list[tuple[int, int]], int]:
    """Chunk ranges and the total count progress is measured in (for a checked spec)."""
    if not kind.chunked:
        return [(0, 1)], 1
    total = kind.module.frame_count(spec)
    return [(s, min(total, s + chunk_frames)) for s in range(0, total, chunk_frames)], total
