"""The jobs that can be rerendered from a manifest or run on the farm: name -> pipeline
module and Spec class. Which spec fields name files, each Spec declares itself
(pipelines.specs); how a chunked job renders in frame ranges, pipelines.chunks defines."""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class JobKind:
    name: str
    module_name: str  # the pipeline module: its Spec class and run()
    spec_name: str
    chunked: bool     # renders in frame ranges: the module is a pipelines.chunks.ChunkedJob
    # A delivery after a lost one continues its work: the module's continued(spec) is the
    # spec it runs (train: resume from the checkpoint the lost one left).
    resumes: bool = False

    @property
    def module(self):
        return importlib.import_module(self.module_name)

    @property
    def spec_class(self) -> type:
        return getattr(self.module, self.spec_name)


JOBS = {kind.name: kind for kind in [
    JobKind("walk", "pipelines.walk", "WalkSpec", chunked=True),
    JobKind("reconstruct", "pipelines.reconstruct", "ReconstructSpec", chunked=False),
    JobKind("sample", "pipelines.sample", "SampleSpec", chunked=False),
    JobKind("encode", "pipelines.encode", "EncodeSpec", chunked=False),
    JobKind("vector", "pipelines.vector", "VectorSpec", chunked=False),
    JobKind("map", "pipelines.map", "MapSpec", chunked=False),
    JobKind("transfer", "pipelines.transfer", "TransferSpec", chunked=False),
    JobKind("transfer-video", "pipelines.transfer_video", "VideoTransferSpec", chunked=True),
    JobKind("degrees", "pipelines.degrees", "DegreesSpec", chunked=False),
    JobKind("apply", "pipelines.apply", "ApplySpec", chunked=False),
    JobKind("train", "pipelines.train", "TrainSpec", chunked=False, resumes=True),
]}
