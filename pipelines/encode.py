"""encode: a folder of images -> a latent store (DESIGN §2, latent stores).

Steps: scan the folder and hash every file; keep the latents of files whose content did not
change since the last run into the same store (same model, size and fit); decode and fit the
new or changed images in batches kept out of the model's way (latentfx/images/batches.py);
attach labels; save the store atomically, with its manifest.
"""

from __future__ import annotations

import csv
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from latentfx.errors import InputError, Skipped
from latentfx.options import FRAME_FITS
from pipelines.specs import Spec, input_path, output_path

SPATIAL_DEFAULT_SIZE = (128, 128)  # a 4x32x32 latent per image: 20,000 images in ~330 MB
# Images between handing freed memory back to the system (latentfx/runtime/memory.py).
TRIM_EVERY = 1024


@dataclass
class EncodeSpec(Spec):
    folder: str = input_path()
    output: str = output_path()
    model: str | None = None
    size: tuple[int, int] | None = None  # spatial models; vector models use their own size
    fit: str = "crop"
    labels: str | None = input_path(None)  # CSV: a `path` column and numeric attribute columns
    folder_labels: bool = False          # one attribute per sub-folder name
    batch: int = 32
    workers: int | None = None           # image decoders (latentfx/images/batches.py); None: auto
    device: str = "auto"

    def validate(self) -> None:
        from latentfx.io.outputs import check_output_file

        if self.fit not in FRAME_FITS:
            raise InputError(f"--fit must be one of {', '.join(FRAME_FITS)}, got {self.fit!r}")
        if self.batch < 1 or (self.workers is not None and self.workers < 0):
            raise InputError("--batch must be at least 1 and --workers at least 0")
        if self.labels and self.folder_labels:
            raise InputError("give --labels or --folder-labels, not both")
        if self.labels and not Path(self.labels).is_file():
            raise InputError(f"--labels {self.labels}: no such file")
        check_output_file(self.output, suffixes={".safetensors": "safetensors"})


@dataclass
class EncodeResult:
    output: Path
    model_id: str
    count: int
    encoded: int           # newly encoded this run
    reused: int            # kept from the previous run
    dropped: int           # in the old store, gone from the folder
    images_per_second: float
    skipped: list[Skipped] = field(default_factory=list)


def run(spec: EncodeSpec, *, progress: Callable[[int, int, str], None] | None = None,
        cancel: Callable[[], bool] | None = None) -> EncodeResult:
    import torch

    from latentfx.images.folders import scan_folder
    from latentfx.io.manifests import write_manifest
    from latentfx.latents.stores import LatentStore
    from latentfx.models.checkpoint import file_sha256
    from latentfx.models.loading import load_model
    from latentfx.runtime.memory import release_free_memory

    # 1. Check inputs, load the model, settle the size.
    spec.validate()
    started = time.perf_counter()
    model, info = load_model(spec.model, device=spec.device)
    n = model.config.image_size
    size = (n, n) if model.config.family == "vector" else tuple(spec.size or SPATIAL_DEFAULT_SIZE)
    root = Path(spec.folder)
    paths, skipped = scan_folder(root)
    if not paths:
        raise InputError(f"{root}: no images found (looked for JPEG, PNG, WebP, BMP, TIFF, GIF)")

    # 2. Hash every file; reuse what the previous store already holds.
    relative = [p.relative_to(root).as_posix() for p in paths]
    hashes = []
    for i, path in enumerate(paths):
        hashes.append(file_sha256(path))
        if progress:
            progress(i + 1, len(paths), "hashing")
    previous = _previous(spec.output, info.model_id, size, spec.fit)
    known = {(p, h): i for i, (p, h) in enumerate(zip(previous.paths, previous.hashes))} \
        if previous else {}
    todo = [i for i, key in enumerate(zip(relative, hashes)) if key not in known]

    # 3. Encode the new and changed images.
    fresh, failed = _encode(model, [paths[i] for i in todo], size, spec, progress, cancel)
    skipped += failed
    latents, kept = [], []
    fresh_by_index = {todo[j]: z for j, z in fresh.items()}
    for i, key in enumerate(zip(relative, hashes)):
        if key in known:
            latents.append(previous.latents[known[key]])
        elif i in fresh_by_index:
            latents.append(fresh_by_index[i])
        else:
            continue
        kept.append(i)
    if not kept:
        raise InputError(f"{root}: none of the {len(paths)} images could be encoded")

    # 4. Labels, then save (the per-image latents go once stacked: the store is then the
    # only copy in memory while safetensors serialises it).
    stacked = torch.stack(latents)
    encoded_count = len(fresh)
    del latents, fresh, fresh_by_index
    if previous is not None:
        previous.latents = None  # only its paths and hashes are needed from here on
    release_free_memory()
    kept_paths = [relative[i] for i in kept]
    attributes, labels = _labels(spec, kept_paths)
    store = LatentStore(latents=stacked, paths=kept_paths,
                        hashes=[hashes[i] for i in kept], model_id=info.model_id, size=size,
                        fit=spec.fit, attributes=attributes, labels=labels,
                        skipped=[{"path": s.path, "reason": s.reason} for s in skipped],
                        folder=str(root.resolve()))  # found from anywhere later
    store.save(spec.output)
    seconds = time.perf_counter() - started
    dropped = len(set(zip(previous.paths, previous.hashes)) - set(zip(relative, hashes))) \
        if previous else 0
    result = EncodeResult(Path(spec.output), info.model_id, len(kept), encoded_count,
                          len(kept) - encoded_count, dropped, encoded_count / seconds, skipped)
    write_manifest(spec.output, job="encode", spec=asdict(spec), model_id=info.model_id,
                   inputs=[{"folder": str(root), "images": len(paths)}], skipped=skipped,
                   timings={"seconds": round(seconds, 3)},
                   results={"count": result.count, "encoded": result.encoded,
                            "reused": result.reused, "dropped": result.dropped})
    return result


def _previous(output: str, model_id: str, size, fit: str):
    """The store this run replaces, if its latents can be reused (same model, size, fit)."""
    from latentfx.latents.stores import LatentStore

    if not Path(output).exists():
        return None
    try:
        old = LatentStore.load(output)
    except InputError:
        return None  # not a store we can read: it is simply replaced
    if (old.model_id, tuple(old.size), old.fit) != (model_id, tuple(size), fit):
        return None
    return old


def _encode(model, paths, size, spec, progress, cancel):
    """{position in paths: latent} for the images that decode, and Skipped for the rest."""
    import torch

    from latentfx.errors import Interrupted
    from latentfx.images.batches import decoded_batches
    from latentfx.runtime.memory import release_free_memory

    fresh, failed, done = {}, [], 0
    if not paths:
        return fresh, failed
    batches = decoded_batches(paths, size, spec.fit, batch=spec.batch, workers=spec.workers,
                              device=model.device)
    with torch.inference_mode():
        for positions, batch, failures in batches:
            if cancel and cancel():
                raise Interrupted(f"cancelled after {done} of {len(paths)} images; the store "
                                  f"was not changed")
            failed += [Skipped(str(paths[i]), reason) for i, reason in failures]
            if batch is not None:
                # A copy of its own: the mean is a view of (mean, log-variance), twice the size.
                means = model.encode(batch.to(model.device)).mode().float().cpu()
                fresh.update(zip(positions, means.clone(memory_format=torch.contiguous_format)))
            done += len(positions) + len(failures)
            if done % TRIM_EVERY < len(positions) + len(failures):
                release_free_memory()
            if progress:
                progress(done, len(paths), "encoding")
    return fresh, failed


def _labels(spec: EncodeSpec, paths: list[str]):
    """(attribute names, (N, A) tensor) from a CSV or from sub-folder names; ([], None)."""
    import torch

    if spec.folder_labels:
        names = sorted({p.split("/")[0] for p in paths if "/" in p})
        if not names:
            raise InputError(f"{spec.folder}: --folder-labels needs images in sub-folders")
        return names, torch.tensor([[float(p.split("/")[0] == n) for n in names] for p in paths])
    if not spec.labels:
        return [], None
    with open(spec.labels, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or "path" not in rows[0]:
        raise InputError(f"{spec.labels}: needs a header row with a `path` column")
    by_path = {Path(r["path"]).as_posix(): r for r in rows}
    names = [c for c in rows[0] if c != "path" and all(_is_number(r[c]) for r in rows)]
    if not names:
        raise InputError(f"{spec.labels}: no numeric attribute columns")
    missing = [p for p in paths if p not in by_path]
    if missing:
        raise InputError(f"{spec.labels}: no row for {len(missing)} image(s), e.g. {missing[0]}")
    return names, torch.tensor([[float(by_path[p][n]) for n in names] for p in paths])


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False
