"""transfer: reinterpret a picture, a folder or a video through a model trained on another
collection ("weird uses of autoencoders II"): encode with it, decode with it, blend with the
original by a strength. A folder's output mirrors its tree; a video keeps its frame count,
frame rate and sound (see transfer_video.py)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from latentfx.errors import InputError, Interrupted, Skipped
from latentfx.io.outputs import IMAGE_OUTPUTS, check_output_file
from pipelines.specs import Spec, input_path, output_path

KINDS = ("image", "folder", "video")


@dataclass
class TransferSpec(Spec):
    input: str = input_path()
    output: str = output_path()
    model: str | None = None
    strength: float = 1.0     # 1: the model's picture; 0: the original
    smooth: int = 0           # videos: frames in the latent smoothing window (0 or 1: none)
    align: bool = True        # smoothing follows the motion (spatial models)
    tile: int = 768           # spatial models: tile side in pixels for big pictures
    overlap: int = 64         # pixels neighbouring tiles share
    batch: int = 8            # video frames per model call
    crf: int | None = None
    codec: str | None = None
    device: str = "auto"

    def validate(self) -> str:
        """Check everything before any work; returns the input's kind (KINDS)."""
        if not 0.0 <= self.strength <= 1.0:
            raise InputError(f"--strength must be between 0 and 1, got {self.strength}")
        if self.smooth < 0:
            raise InputError(f"--smooth must be 0 (off) or a number of frames, got {self.smooth}")
        if self.tile < 64 or not 0 <= self.overlap <= self.tile // 2:
            raise InputError(f"--tile must be at least 64 and --overlap between 0 and half the "
                             f"tile, got {self.tile} and {self.overlap}")
        if self.batch < 1:
            raise InputError(f"--batch must be at least 1, got {self.batch}")
        kind = input_kind(self.input)
        _check_output(kind, self.input, self.output)
        return kind


def input_kind(path: str) -> str:
    """image, folder or video, by what the path is and its extension."""
    from latentfx.images.loading import IMAGE_EXTENSIONS
    from latentfx.video.reader import VIDEO_EXTENSIONS

    p = Path(path)
    if p.is_dir():
        return "folder"
    if not p.exists():
        raise InputError(f"{path}: no such file or folder")
    suffix = p.suffix.lower()
    if suffix in VIDEO_EXTENSIONS:
        return "video"
    if suffix in IMAGE_EXTENSIONS:
        return "image"
    raise InputError(f"{path}: not a supported image ({', '.join(sorted(IMAGE_EXTENSIONS))}) "
                     f"or video ({', '.join(sorted(VIDEO_EXTENSIONS))}); convert it to one "
                     f"of those, or give a folder of images")


def _check_output(kind: str, source: str, output: str) -> None:
    from latentfx.video.writer import video_target

    if kind == "image":
        check_output_file(output, suffixes=IMAGE_OUTPUTS)
        if Path(output).resolve() == Path(source).resolve():
            raise InputError(f"{output}: is the input picture; write the result elsewhere")
    elif kind == "video":
        target = video_target(output)
        if not target.is_sequence and Path(output).resolve() == Path(source).resolve():
            raise InputError(f"{output}: is the input video; write the result elsewhere")
    else:
        out = Path(output).resolve()
        if out == Path(source).resolve() or Path(source).resolve() in out.parents:
            raise InputError(f"{output}: is inside the input folder {source}; the next run "
                             f"would read its own output. Write it beside the folder")
        if out.exists() and not out.is_dir():
            raise InputError(f"{output}: is a file; a folder's transfer goes into a folder")
        if not out.parent.is_dir():
            raise InputError(f"{output}: folder {out.parent} does not exist; create it first")


@dataclass
class TransferResult:
    output: Path
    kind: str
    written: int                       # pictures or frames
    skipped: list[Skipped] = field(default_factory=list)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    flicker: dict | None = None        # videos: mean frame-to-frame change, out / in
    has_sound: bool = False


def run(spec: TransferSpec, *, progress: Callable[[int, int, str], None] | None = None,
        cancel: Callable[[], bool] | None = None) -> TransferResult:
    kind = spec.validate()
    if kind == "video":
        from pipelines import transfer_video

        return transfer_video.run(spec, progress=progress, cancel=cancel)
    return _run_pictures(spec, kind, progress=progress, cancel=cancel)


def reinterpreter(spec: TransferSpec):
    """(Reinterpreter, checkpoint info) for a spec: loads the model."""
    from latentfx.latents.transfer import Reinterpreter
    from latentfx.models.loading import load_model

    model, info = load_model(spec.model, device=spec.device)
    return Reinterpreter(model, strength=spec.strength, tile=spec.tile,
                         overlap=spec.overlap), info


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
