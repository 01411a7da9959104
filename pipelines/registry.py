"""The jobs that can be rerendered from a manifest or run on the farm, and which of their
spec fields name files: inputs to check and stage, outputs to place."""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class JobKind:
    name: str
    module: str                    # the pipeline module: Spec class and run()
    spec_class: str
    inputs: tuple[str, ...]        # fields holding an input path or a list of them
    outputs: tuple[str, ...]       # fields holding an output path (None when unused)
    chunked: bool                  # renders in frame ranges (plan / render_frames / assemble)
    paired: tuple[str, ...] = ()   # input fields whose items are [path, number] pairs
    store_images: str | None = None  # a latent-store field whose images the job reads from
                                     # the folder the store recorded, unless `folder` is given

    def load(self):
        """(pipeline module, its Spec class)."""
        module = importlib.import_module(self.module)
        return module, getattr(module, self.spec_class)


JOBS = {
    "walk": JobKind("walk", "pipelines.walk", "WalkSpec", ("keyframes",),
                    ("output", "frames_dir", "sheet"), chunked=True),
    "reconstruct": JobKind("reconstruct", "pipelines.reconstruct", "ReconstructSpec",
                           ("images",), ("output",), chunked=False),
    "sample": JobKind("sample", "pipelines.sample", "SampleSpec", (), ("output",),
                      chunked=False),
    "encode": JobKind("encode", "pipelines.encode", "EncodeSpec", ("folder", "labels"),
                      ("output",), chunked=False),
    "vector": JobKind("vector", "pipelines.vector", "VectorSpec",
                      ("store", "with_dir", "without_dir"), ("output",), chunked=False),
    "map": JobKind("map", "pipelines.map", "MapSpec", ("store", "folder"), ("output", "html"),
                   chunked=False, store_images="store"),
    "transfer": JobKind("transfer", "pipelines.transfer", "TransferSpec", ("input",),
                        ("output",), chunked=False),
    "transfer-video": JobKind("transfer-video", "pipelines.transfer_video", "TransferSpec",
                              ("input",), ("output",), chunked=True),
    "degrees": JobKind("degrees", "pipelines.degrees", "DegreesSpec",
                       ("start", "end", "via", "pool", "folder"), ("output", "sheet"),
                       chunked=False, store_images="pool"),
    "apply": JobKind("apply", "pipelines.apply", "ApplySpec", ("image", "vectors"),
                     ("output",), chunked=False, paired=("vectors",)),
}
