"""encode: a folder of images -> a latent store (DESIGN §2, latent stores).

Steps: check the spec; load the model and settle the size; encode the folder (posterior means
and pooled features), reusing those of files that did not change since the last run into the
same store (latentfx/latents/encoding.py); attach labels; save the store atomically, with its
manifest.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from latentfx.errors import InputError, Skipped
from latentfx.options import FRAME_FITS
from pipelines.specs import ModelSpec, input_path, output_path


@dataclass
class EncodeSpec(ModelSpec):
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
    notes: list[str] = field(default_factory=list)


def run(spec: EncodeSpec, *, progress: Callable[[int, int, str], None] | None = None,
        cancel: Callable[[], bool] | None = None) -> EncodeResult:
    from latentfx.io.manifests import write_manifest
    from latentfx.latents.encoding import encode_folder, store_size

    # 1. Check inputs, load the model, settle the size.
    spec.validate()
    started = time.perf_counter()
    model, info = spec.load_model()
    size = store_size(model, spec.size)

    # 2. Encode what is new or changed; reuse the rest of the store this run replaces.
    encoded = encode_folder(model, spec.folder, model_id=info.model_id, size=size, fit=spec.fit,
                            batch=spec.batch, workers=spec.workers,
                            previous=_previous(spec.output), progress=progress, cancel=cancel)

    # 3. Labels, then save.
    store = encoded.store
    store.attributes, store.labels = _labels(spec, store.paths)
    store.save(spec.output)
    seconds = time.perf_counter() - started
    result = EncodeResult(Path(spec.output), info.model_id, len(store), encoded.encoded,
                          encoded.reused, encoded.dropped, encoded.encoded / seconds,
                          encoded.skipped, encoded.notes)
    write_manifest(spec.output, job="encode", spec=asdict(spec), model_id=info.model_id,
                   inputs=[{"folder": str(Path(spec.folder)), "images": encoded.found}],
                   skipped=encoded.skipped, timings={"seconds": round(seconds, 3)},
                   results={"count": result.count, "encoded": result.encoded,
                            "reused": result.reused, "dropped": result.dropped,
                            "notes": result.notes})
    return result


def _previous(output: str):
    """The store this run replaces, if there is one that can be read."""
    from latentfx.latents.stores import LatentStore

    if not Path(output).exists():
        return None
    try:
        return LatentStore.load(output)
    except InputError:
        return None  # not a store we can read: it is simply replaced


def _labels(spec: EncodeSpec, paths: list[str]):
    """(attribute names, (N, A) tensor) from a CSV or from sub-folder names; ([], None)."""
    import torch

    from latentfx.latents.label_tables import csv_labels, folder_labels

    if spec.folder_labels:
        names, rows = folder_labels(paths)
        if not names:
            raise InputError(f"{spec.folder}: --folder-labels needs images in sub-folders")
        return names, torch.tensor(rows)
    if not spec.labels:
        return [], None
    names, rows = csv_labels(spec.labels, paths)
    return names, torch.tensor(rows)
