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
    from latentfx.io.safetensors_files import file_sha256
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
    ran_in = Path(record.get("working_dir") or ".")  # older manifests: where rerender runs
    spec_fields = _placed(kind.spec_class, spec_fields, ran_in, output=output)
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
        item_path = _anchored(ran_in, item["path"])
        if not Path(item_path).is_file():
            raise InputError(f"{item_path}: input of {path} is missing" + (
                "" if "working_dir" in record else " (this manifest's paths are relative to "
                "the folder its job ran in: run rerender there)"))
        if file_sha256(item_path) != item["sha256"]:
            raise InputError(f"{item_path}: changed since {path} was written; the rerender "
                             f"would differ")
    return kind.module, spec


def _anchored(folder: Path, path: str) -> str:
    """A path the job wrote relative to the folder it ran in, as a path that works here."""
    return path if os.path.isabs(path) else str(folder / path)


def _placed(spec_class, fields: dict, ran_in: Path, *, output: str | None) -> dict:
    """The recorded spec's paths made to work from any folder: inputs anchored to the folder
    the job ran in; outputs there too, or, with a new `output` (relative to here), every
    other output the job writes (a contact sheet, frames, a map's page) moved beside it
    under its name, so the rerender never overwrites the original's files."""
    fields = spec_class.map_inputs(fields, lambda _, p: _anchored(ran_in, p))
    old_output = fields.get("output")
    for name in spec_class.output_fields():
        value = fields.get(name)
        if value is None:
            continue
        if output is None:
            fields[name] = _anchored(ran_in, value)
        elif name == "output":
            fields[name] = output
        else:
            fields[name] = _beside(Path(output), Path(old_output), Path(value))
    return fields


def _beside(output: Path, old_output: Path, other: Path) -> str:
    """`other` (written with `old_output`) renamed for `output`: walk-sheet.png, written
    with walk.mp4, becomes take2-sheet.png beside take2.webm; a name that does not start
    with the old output's stem gets the new stem in front (take2-contact.png)."""
    if "%" in other.name:  # a frame pattern (frames/%05d.png): its folder is what is renamed
        return str(Path(_beside(output, old_output, other.parent)) / other.name)
    old_stem = old_output.name.split(".")[0]
    new_stem = output.name.split(".")[0]
    name = other.name
    name = new_stem + name[len(old_stem):] if old_stem and name.startswith(old_stem) \
        else f"{new_stem}-{name}"
    return str(output.parent / name)
