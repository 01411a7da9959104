"""The chunk protocol: what a job that renders in frame ranges implements, so that the farm
can split it into chunks and put the pieces back together (DESIGN §4). Walks and video
transfers implement it; the registry marks them `chunked`.

The farm's order of calls, each taking a spec already checked (Spec.checked()):

    total = job.frame_count(spec)                       # at submit: plans the chunks
    prepared = job.prepare(spec)                        # in a worker, once per process
    job.render_frames(prepared, start, stop, write=..)  # per chunk: frames [start, stop)
    facts = prepared.facts()                            # kept beside the frames (JSON)
    job.assemble(spec, frame_files, facts=facts)        # once every frame is written

and a local run is the same steps in one process, streaming instead of writing files, so
the two give the same frames and the same manifest.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Protocol, runtime_checkable

Progress = Callable[[int, int, str], None]
Cancel = Callable[[], bool]
FrameWriter = Callable[[int, object], None]  # (frame index, uint8 (H, W, 3))


@runtime_checkable
class Prepared(Protocol):
    """Everything needed to render any frame range of one job (model loaded, inputs read)."""

    spec: object     # the checked spec it was prepared from
    model_id: str

    @property
    def frame_count(self) -> int: ...

    def facts(self) -> dict:
        """What preparing established that assembly needs to write what a local run writes
        (the model id, frame geometry, keyframe positions, notes): JSON-serialisable, and
        the same in every process that prepares the same spec."""


@runtime_checkable
class ChunkedJob(Protocol):
    """A pipeline module that renders in frame ranges (modules satisfy protocols)."""

    def frame_count(self, spec) -> int:
        """How many frames the job has, without loading a model."""

    def prepare(self, spec, *, progress: Progress | None = None) -> Prepared:
        """Load the model and inputs: everything up to the first frame."""

    def render_frames(self, prepared: Prepared, start: int, stop: int, *, write: FrameWriter,
                      cancel: Cancel | None = None) -> None:
        """Render frames [start, stop) and hand each to write(index, pixels)."""

    def assemble(self, spec, frame_files: list[Path], *, facts: dict,
                 progress: Progress | None = None, cancel: Cancel | None = None):
        """Encode the rendered frames (PNG files, in order) into the output and its manifest,
        exactly as a local run would have; returns the job's Result."""
