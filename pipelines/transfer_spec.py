"""The transfer job's spec and result, and the reinterpreter it sets up: shared by the
transfer of pictures and folders (transfer.py) and of videos (transfer_video.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from latentfx.errors import InputError, Skipped
from latentfx.io.outputs import IMAGE_OUTPUTS, check_output_file
from pipelines.specs import ModelSpec, input_path, output_path

KINDS = ("image", "folder", "video")


@dataclass
class TransferSpec(ModelSpec):
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


def reinterpreter(spec: TransferSpec):
    """(Reinterpreter, checkpoint info) for a spec: loads the model."""
    from latentfx.latents.transfer import Reinterpreter

    model, info = spec.load_model()
    return Reinterpreter(model, strength=spec.strength, tile=spec.tile,
                         overlap=spec.overlap), info
