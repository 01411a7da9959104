"""Where a walk's frames go and how they are encoded, checked without heavy imports (the CLI
reports a wrong output before torch loads)."""

from __future__ import annotations

from dataclasses import dataclass

from latentfx.errors import InputError
from latentfx.io.outputs import IMAGE_OUTPUTS, check_output_file


@dataclass(frozen=True)
class VideoOutputs:
    """Where a walk's frames go and how they are encoded (VideoWriter's settings)."""

    output: str                   # a video file, a PNG folder or a %05d.png pattern
    fps: float
    crf: int | None = None
    codec: str | None = None
    frames_dir: str | None = None  # the frames as PNGs too
    sheet: str | None = None       # a contact sheet of sheet_frames evenly spread frames
    sheet_frames: int = 8

    @property
    def needs_even_size(self) -> bool:
        """The output's format stores colour at half resolution (yuv420p)."""
        from latentfx.video.writer import video_target

        return video_target(self.output).needs_even_size

    def check(self) -> None:
        """InputError naming the option when these cannot be written."""
        from latentfx.video.writer import CONTAINERS, video_target

        if self.fps <= 0:
            raise InputError(f"--fps must be positive, got {self.fps:g}")
        if self.crf is not None and not 0 <= self.crf <= 63:
            raise InputError(f"--crf must be between 0 and 63, got {self.crf}")
        if self.sheet_frames < 1:
            raise InputError(f"--sheet-frames must be at least 1, got {self.sheet_frames}")
        target = video_target(self.output)
        if self.crf is not None and not target.is_sequence and \
                CONTAINERS[target.path.suffix.lower()].crf is None and self.codec is None:
            raise InputError(f"--crf applies to .mp4 and .webm (or a --codec that takes it), "
                             f"not {target.label}")
        if self.frames_dir is not None:
            if not video_target(self.frames_dir).is_sequence:
                raise InputError(f"--frames-dir {self.frames_dir}: give a folder or a "
                                 f"%05d.png pattern")
        if self.sheet is not None:
            check_output_file(self.sheet, suffixes=IMAGE_OUTPUTS)
