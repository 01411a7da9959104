"""Specs (pipelines.specs): each declares the fields that name files, and comes back from
JSON as it went in."""

import dataclasses
import json

import pytest

from latentfx.errors import InputError
from pipelines import walk
from pipelines.apply import ApplySpec
from pipelines.registry import JOBS
from pipelines.specs import KEYFRAMES, PAIRS, PATHS, Spec

# What the farm checks, stages and places for each job.
PATH_FIELDS = {
    "walk": ({"keyframes": KEYFRAMES}, ("output", "frames_dir", "sheet")),
    "reconstruct": ({"images": PATHS}, ("output",)),
    "sample": ({}, ("output",)),
    "encode": ({"folder": PATHS, "labels": PATHS}, ("output",)),
    "vector": ({"store": PATHS, "with_dir": PATHS, "without_dir": PATHS}, ("output",)),
    "map": ({"store": PATHS, "folder": PATHS}, ("output", "html")),
    "transfer": ({"input": PATHS}, ("output",)),
    "transfer-video": ({"input": PATHS}, ("output",)),
    "degrees": ({"start": PATHS, "end": PATHS, "via": PATHS, "pool": PATHS, "folder": PATHS},
                ("output", "sheet")),
    "apply": ({"image": PATHS, "vectors": PAIRS}, ("output",)),
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
