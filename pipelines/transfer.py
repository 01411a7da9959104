"""transfer: reinterpret a picture, a folder or a video through a model trained on another
collection ("weird uses of autoencoders II"): encode with it, decode with it, blend with the
original by a strength. A folder's output mirrors its tree; a video keeps its frame count,
frame rate and sound (see transfer_video.py)."""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable

from latentfx.errors import InputError, Interrupted, Skipped
from latentfx.io.outputs import IMAGE_OUTPUTS
from pipelines import transfer_video
from pipelines.transfer_spec import TransferResult, TransferSpec, input_kind, reinterpreter

# The CLI and manifests know the job as pipelines.transfer: its spec and result live here too.
__all__ = ["TransferResult", "TransferSpec", "input_kind", "run"]


def run(spec: TransferSpec, *, progress: Callable[[int, int, str], None] | None = None,
        cancel: Callable[[], bool] | None = None) -> TransferResult:
    # A video streams through its own pipeline (which the farm also splits into chunks).
    if input_kind(spec.input) == "video":
        return transfer_video.run(spec, progress=progress, cancel=cancel)
    kind = spec.validate()
    return _run_pictures(spec, kind, progress=progress, cancel=cancel)


def _run_pictures(spec: TransferSpec, kind: str, *, progress, cancel) -> TransferResult:
    from latentfx.images.folders import scan_folder
    from latentfx.images.grids import save_image
    from latentfx.images.loading import load_or_skip
    from latentfx.io.manifests import input_record, write_manifest

    # 1. What to read and where each result goes.
    started = time.perf_counter()
    if kind == "image":
        jobs, skipped = [(Path(spec.input), Path(spec.output))], []
    else:
        files, skipped = scan_folder(spec.input)
        jobs = _mirrored_jobs(files, Path(spec.input), Path(spec.output), skipped)
        if not jobs:
            raise InputError(f"{spec.input}: no images found (looked for the usual image "
                             f"extensions, in sub-folders too)")
    reinterpret, info = reinterpreter(spec)

    # 2. One picture at a time (each at its own size); a bad file is skipped, not fatal.
    written, inputs = 0, []
    for i, (source, target) in enumerate(jobs):
        if cancel and cancel():
            raise Interrupted(f"cancelled after {written} of {len(jobs)} pictures; those "
                              f"are complete, the rest were not started")
        picture = load_or_skip(source, skipped)
        if picture is not None:
            target.parent.mkdir(parents=True, exist_ok=True)
            save_image(reinterpret(picture[None])[0], target)
            inputs.append(input_record(source))
            written += 1
        if progress:
            progress(i + 1, len(jobs), source.name)
    if not written:
        raise InputError(f"{skipped[0].path}: {skipped[0].reason}" if kind == "image" else
                         f"{spec.input}: none of its {len(jobs)} pictures could be read; "
                         + "; ".join(f"{s.path}: {s.reason}" for s in skipped[:3]))

    # 3. The manifest, with what was skipped and why.
    seconds = time.perf_counter() - started
    write_manifest(spec.output.rstrip("/"), job="transfer", spec=asdict(spec),
                   model_id=info.model_id, inputs=inputs, skipped=skipped,
                   timings={"seconds": round(seconds, 3)},
                   results={"kind": kind, "written": written})
    return TransferResult(Path(spec.output), kind, written, skipped, seconds)


def _mirrored_jobs(files: list[Path], folder: Path, output: Path, skipped: list) -> list:
    """(source, target) for each picture; one whose target another already takes (a.bmp ->
    a.bmp.png beside an a.bmp.png; A.png and a.png on a case-blind disk) is skipped, so no
    result overwrites another."""
    jobs, taken = [], {}
    for source in files:
        target = _mirrored(source, folder, output)
        key = target.as_posix().lower()
        if key in taken:
            skipped.append(Skipped(str(source), f"its result {target.name} would overwrite "
                                                f"that of {taken[key].name}; rename one"))
            continue
        taken[key] = source
        jobs.append((source, target))
    return jobs


def _mirrored(source: Path, folder: Path, output: Path) -> Path:
    """Where a folder's picture goes in the output tree: same relative path, same format
    where it can be written (PNG, JPEG, WebP), else PNG added to the name (a.gif -> a.gif.png,
    which cannot collide with an a.png beside it)."""
    target = output / source.relative_to(folder)
    return target if target.suffix.lower() in IMAGE_OUTPUTS else \
        target.with_name(target.name + ".png")
