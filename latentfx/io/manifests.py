"""Sidecar manifests: `<output>.latentfx.json` records how an output was made (DESIGN §2)."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

from latentfx import __version__
from latentfx.io.atomic import atomic_path
from latentfx.io.safetensors_files import file_sha256

MANIFEST_VERSION = 1


def manifest_path(output: str | os.PathLike) -> Path:
    output = Path(output)
    return output.with_name(output.name + ".latentfx.json")


def input_record(path: str | os.PathLike) -> dict:
    return {"path": str(path), "sha256": file_sha256(path)}


def _decoder_id(spec: dict) -> dict:
    """A separate decoder's id (`--decoder`, foreign autoencoders), recorded beside the
    model's: the pictures depend on it, the latents (and the model id) do not."""
    from latentfx.models.sources import model_id

    return {"decoder_id": model_id(spec["decoder"])} if spec.get("decoder") else {}


def write_manifest(output: str | os.PathLike, *, job: str, spec: dict, model_id: str | None,
                   inputs: list[dict], skipped: list | None = None, seeds: dict | None = None,
                   timings: dict | None = None, results: dict | None = None) -> Path:
    record = {
        "manifest_version": MANIFEST_VERSION,
        "latentfx_version": __version__,
        "job": job,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": {"python": platform.python_version(), "platform": platform.platform()},
        # Relative paths in the spec and inputs are relative to this: rerender anchors them.
        "working_dir": os.getcwd(),
        "model_id": model_id,
        **_decoder_id(spec),
        "spec": spec,
        "seeds": seeds or {},
        "inputs": inputs,
        "skipped": [{"path": s.path, "reason": s.reason} for s in (skipped or [])],
        "timings": timings or {},
        "results": results or {},
    }
    target = manifest_path(output)
    with atomic_path(target, suffix=".json") as tmp:
        tmp.write_text(json.dumps(record, indent=2, default=str) + "\n")
    return target
