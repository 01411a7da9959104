"""Specs (pipelines.specs): each declares the fields that name files, comes back from JSON as
it went in, and is checked once, where its job starts."""

import dataclasses
import json

import pytest

from latentfx.errors import InputError
from pipelines import walk
from pipelines.apply import ApplySpec
from pipelines.registry import JOBS
from pipelines.specs import FEATURES, KEYFRAMES, PAIRS, PATHS, Spec
from test_chunks import render_in_chunks

# What the farm checks, stages and places for each job. Every job that loads a model (all
# but map, which takes the store's) also reads a separate decoder file when given one.
DECODER = {"decoder": PATHS}
PATH_FIELDS = {
    "walk": ({"keyframes": KEYFRAMES, **DECODER}, ("output", "frames_dir", "sheet")),
    "reconstruct": ({"images": PATHS, **DECODER}, ("output",)),
    "sample": (DECODER, ("output",)),
    "encode": ({"folder": PATHS, "labels": PATHS, **DECODER}, ("output",)),
    "vector": ({"store": PATHS, "with_dir": PATHS, "without_dir": PATHS, **DECODER},
               ("output",)),
    "map": ({"store": PATHS, "folder": PATHS, "features": FEATURES}, ("output", "html")),
    "transfer": ({"input": PATHS, **DECODER}, ("output",)),
    "transfer-video": ({"input": PATHS, **DECODER}, ("output",)),
    "degrees": ({"start": PATHS, "end": PATHS, "via": PATHS, "pool": PATHS,
                 "features": FEATURES, "folder": PATHS, **DECODER}, ("output", "sheet")),
    "apply": ({"image": PATHS, "vectors": PAIRS, **DECODER}, ("output",)),
    "train": ({"folder": PATHS, "labels": PATHS}, ("output", "run_dir")),
}
SHOWS_STORE_IMAGES = {"map": "store", "degrees": "pool"}


@pytest.mark.parametrize("name", JOBS)
def test_every_spec_declares_its_path_fields(name):
    spec_class = JOBS[name].spec_class
    assert issubclass(spec_class, Spec) and dataclasses.is_dataclass(spec_class)
    inputs, outputs = PATH_FIELDS[name]
    assert {f.name: f.form for f in spec_class.input_fields()} == inputs
    assert spec_class.output_fields() == outputs
    shows = [f.name for f in spec_class.input_fields() if f.store_images]
    assert shows == ([SHOWS_STORE_IMAGES[name]] if name in SHOWS_STORE_IMAGES else [])


def through_json(spec: Spec) -> Spec:
    return type(spec).from_dict(json.loads(json.dumps(spec.to_dict())))


def test_from_dict_turns_lists_back_into_tuples():
    spec = walk.WalkSpec(keyframes=["a.png", "seed:1"], output="w.mp4", size=(64, 48),
                         durations=(1.0, 2.5))
    assert through_json(spec) == spec
    apply = ApplySpec(image="a.png", output="o.png", vectors=[("v.safetensors", 0.5)],
                      sweep=(-1.0, 1.0))
    back = through_json(apply)
    assert back == apply and back.vectors == [("v.safetensors", 0.5)]


def test_from_dict_names_unknown_and_missing_fields():
    with pytest.raises(InputError, match=r"m.json: unknown field\(s\) colour, zoom; "
                                         r"missing field\(s\) output for a WalkSpec"):
        walk.WalkSpec.from_dict({"keyframes": ["seed:1", "seed:2"], "zoom": 2, "colour": 1},
                                source="m.json")
    with pytest.raises(InputError, match="a WalkSpec is a JSON object, got list"):
        walk.WalkSpec.from_dict(["seed:1"])


def test_a_walk_is_checked_once_where_it_starts(tiny_spatial_model, shapes_folder, tmp_path,
                                                monkeypatch):
    checks = []
    validate = walk.WalkSpec.validate
    monkeypatch.setattr(walk.WalkSpec, "validate",
                        lambda self: checks.append(self) or validate(self))
    keys = [str(shapes_folder / f"shape_{i:06d}.png") for i in (1, 2)]
    spec = walk.WalkSpec(keyframes=keys, output=str(tmp_path / "w.mp4"), frames=3,
                         model=str(tiny_spatial_model), device="cpu")
    walk.run(spec)
    assert len(checks) == 1

    # The chunk protocol takes the checked spec and never checks it again.
    checked = dataclasses.replace(spec, output=str(tmp_path / "chunked.mp4")).checked()
    assert (checked.interp, checked.ease, checked.frames) == ("slerp", "smooth", 3)
    assert len(checks) == 2
    render_in_chunks(walk, checked, tmp_path / "frames", chunk_frames=2)
    assert len(checks) == 2
