"""rerender: read an output's manifest and make the output again from the recorded spec.

Refuses when the model or an input file is no longer the one the manifest recorded, since
the result would silently differ."""

from __future__ import annotations

import json
import os
from pathlib import Path

from latentfx.errors import InputError
from pipelines.registry import JOBS


def load(manifest: str | os.PathLike, *, output: str | None = None, device: str | None = None):
    """(pipeline module, spec) that reproduce the output described by `manifest`."""
    from latentfx.models.checkpoint import file_sha256
    from latentfx.models.sources import model_id

    path = Path(manifest)
    try:
        record = json.loads(path.read_text())
        job, spec_fields = record["job"], dict(record["spec"])
    except FileNotFoundError:
        raise InputError(f"{path}: no such manifest") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: not a latentfx manifest ({exc})") from None
    if job not in JOBS:
        raise InputError(f"{path}: job {job!r} cannot be rerendered; rerender knows "
                         f"{', '.join(JOBS)}")
    kind = JOBS[job]
    if output is not None:
        spec_fields["output"] = output
    if device is not None:
        spec_fields["device"] = device
    spec = kind.spec_class.from_dict(spec_fields, source=str(path))

    for field, recorded in (("model", record.get("model_id")),
                            ("decoder", record.get("decoder_id"))):
        if recorded and model_id(getattr(spec, field)) != recorded:
            raise InputError(f"{path}: made with {field} {recorded[:16]}, but "
                             f"{getattr(spec, field) or 'default'} is now a different one; give "
                             f"the original file")
    for item in record.get("inputs", []):
        if not Path(item["path"]).is_file():
            raise InputError(f"{item['path']}: input of {path} is missing (paths are relative "
                             f"to the folder the job ran in)")
        if file_sha256(item["path"]) != item["sha256"]:
            raise InputError(f"{item['path']}: changed since {path} was written; the rerender "
                             f"would differ")
    return kind.module, spec
