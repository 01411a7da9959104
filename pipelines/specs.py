"""What every pipeline Spec shares: the fields that name files (declared on the field itself,
so the farm knows what to check, stage and place), a JSON round trip, and the one place a
spec is checked and resolved.

    @dataclass
    class WalkSpec(Spec):
        keyframes: list[str] = input_path(form=KEYFRAMES)
        output: str = output_path()
        sheet: str | None = output_path(None)

A spec is checked once, where a job starts (run(), or the farm at submit time), and what
comes out of `checked()` is what the job renders and its manifest records.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import MISSING, dataclass
from functools import cache
from pathlib import Path
from types import UnionType
from typing import Any, Callable, TypeVar

from latentfx.errors import InputError

# What an input field holds: a path, or a list of paths ...
PATHS = "paths"
# ... [path, number] pairs, of which only the path is a file ...
PAIRS = "pairs"
# ... or keyframe texts: an image path, STORE.safetensors:entry (reads the store) or seed:N ...
KEYFRAMES = "keyframes"
# ... or a `--features` choice: pooled or latent (no file), or clip:DIR (reads the folder).
FEATURES = "features"
FORMS = (PATHS, PAIRS, KEYFRAMES, FEATURES)

S = TypeVar("S", bound="Spec")


@dataclass(frozen=True)
class PathField:
    name: str
    form: str = PATHS          # inputs only (FORMS)
    store_images: bool = False  # a latent store whose pictures the job shows (see below)


def input_path(default: Any = MISSING, *, default_factory: Any = MISSING, form: str = PATHS,
               store_images: bool = False) -> Any:
    """A field naming what the job reads. `store_images`: the field is a latent store whose
    pictures the job reads from the folder the store recorded, unless the spec's `folder`
    field names where they are now; that folder is an input too."""
    if form not in FORMS:
        raise ValueError(f"form must be one of {FORMS}, got {form!r}")
    return dataclasses.field(default=default, default_factory=default_factory,
                             metadata={"path": "input", "form": form,
                                       "store_images": store_images})


def output_path(default: Any = MISSING) -> Any:
    """A field naming a file or folder the job writes (None: not written)."""
    return dataclasses.field(default=default, metadata={"path": "output"})


class Spec:
    """Base of every pipeline Spec (each one a dataclass)."""

    # Fields added after specs were first written down (manifests, farm records), with the
    # value an object written before them was run with: from_dict fills them in when absent.
    # (A class attribute without an annotation: not a dataclass field.)
    LEGACY_VALUES = {}

    # -- the fields that name files ---------------------------------------------------------

    @classmethod
    def input_fields(cls) -> tuple[PathField, ...]:
        return _path_fields(cls, "input")

    @classmethod
    def output_fields(cls) -> tuple[str, ...]:
        return tuple(f.name for f in _path_fields(cls, "output"))

    @classmethod
    def map_inputs(cls, fields: dict, change: Callable[[str, str], str]) -> dict:
        """`fields` (a spec as a JSON object) with every path it reads, the model's included
        (a bundled model's name is not a path), replaced by change(field, path). The one walk
        over input forms: the farm stages with it, rerender anchors with it, and a job checks
        its inputs exist with it. A store's image folder is not here: finding it means
        reading the store (workers.paths does)."""
        from latentfx.models.bundled import BUNDLED_MODELS
        from latentfx.options import CLIP_PREFIX, features_folder
        from latentfx.walk.keyframes import parse_keyframe

        def one(name: str, form: str, value):
            if form == PAIRS:  # [file, strength]: only the file is a path
                return [change(name, value[0]), *value[1:]]
            if form == FEATURES:  # clip:DIR reads DIR; pooled and latent read nothing
                folder = features_folder(value)
                return value if folder is None else CLIP_PREFIX + change(name, folder)
            if form == KEYFRAMES:
                key = parse_keyframe(value)
                if key.store is not None:  # STORE:entry reads the store
                    return f"{change(name, str(key.store))}:{key.entry}"
                if not key.is_image:
                    return value  # seed:N
            return change(name, value)

        result = dict(fields)
        for field in cls.input_fields():
            value = fields.get(field.name)
            if isinstance(value, str):
                result[field.name] = one(field.name, field.form, value)
            elif value is not None:
                result[field.name] = [one(field.name, field.form, v) for v in value]
        model = fields.get("model")
        if model and not (model in BUNDLED_MODELS and not Path(model).exists()):
            result["model"] = change("model", model)
        return result

    @classmethod
    def named_inputs(cls, fields: dict) -> list[tuple[str, str]]:
        """(field, path) for every path the spec `fields` read (see map_inputs)."""
        found: list[tuple[str, str]] = []
        cls.map_inputs(fields, lambda name, path: found.append((name, path)) or path)
        return found

    def check_inputs_exist(self) -> None:
        """InputError naming the first input that is not there, before any heavy import."""
        from latentfx.models.bundled import resolve_model

        for field, value in self.named_inputs(self.to_dict()):
            if field == "model":
                resolve_model(value)  # its message names the bundled models
            elif not Path(value).exists():
                raise InputError(f"{value}: no such file or folder ({field.replace('_', '-')})")

    # -- JSON round trip --------------------------------------------------------------------

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls: type[S], data: dict, *, source: str = "spec") -> S:
        """The spec a JSON object (a manifest's, the farm's record) describes: lists turn
        back into tuples where the field is a tuple. Keys it does not know, or lacks, are an
        InputError naming them; `source` says where the object came from."""
        if not isinstance(data, dict):
            raise InputError(f"{source}: a {cls.__name__} is a JSON object, got "
                             f"{type(data).__name__}")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        data = {**cls.LEGACY_VALUES, **data}
        unknown = sorted(set(data) - set(fields))
        missing = [name for name, f in fields.items() if name not in data and
                   f.default is MISSING and f.default_factory is MISSING]
        if unknown or missing:
            problems = ([f"unknown field(s) {', '.join(unknown)}"] if unknown else []) + \
                       ([f"missing field(s) {', '.join(missing)}"] if missing else [])
            raise InputError(f"{source}: {'; '.join(problems)} for a {cls.__name__}; it "
                             f"does not fit this latentfx version")
        hints = _type_hints(cls)
        return cls(**{name: _from_json(hints[name], value) for name, value in data.items()})

    # -- checked once -----------------------------------------------------------------------

    def validate(self) -> None:
        """Raise InputError for a value the job cannot use (each Spec adds its own checks)."""

    def resolved(self: S) -> S:
        """The spec with every default that depends on other options filled in."""
        return self

    def checked(self: S) -> S:
        """Validated and resolved: the spec a job renders and its manifest records. Entry
        points that take a checked spec (pipelines.chunks) do not check it again; checking a
        checked spec returns it as it is (the CLI checks before a job's heavy imports, and
        the job's run() checks again for callers that did not)."""
        if getattr(self, "_is_checked", False):
            return self
        self.validate()  # conflicting options first: they are what to fix before any file
        self.check_inputs_exist()
        result = self.resolved()
        object.__setattr__(result, "_is_checked", True)  # not a field: no manifest sees it
        return result


@dataclass(kw_only=True)
class ModelSpec(Spec):
    """A spec that loads a model by its `model` field: also `vae_kind` and `decoder`, which a
    foreign autoencoder may need (latentfx/models/foreign/). Keyword-only, so each Spec keeps
    its own field order."""

    # sd, sdxl, sd3 or flux: for an autoencoder file that cannot tell (SD and SDXL files
    # have the same shapes, as do SD3's and FLUX's).
    vae_kind: str | None = None
    # Another decoder for the same latents (a TAESD decoder for previews): staged and
    # path-checked on the farm like every input file.
    decoder: str | None = input_path(None)

    def check_inputs_exist(self) -> None:
        """Also CheckpointError for model files loading would refuse (a pickle, a layout
        latentfx cannot read, a kind the file needs and lacks, a decoder of other latents),
        from their headers, before any heavy import."""
        from latentfx.models.sources import check_model

        super().check_inputs_exist()
        check_model(self.model, vae_kind=self.vae_kind, decoder=self.decoder)

    def load_model(self):
        """(model, checkpoint info) on the spec's device."""
        from latentfx.models.loading import load_model

        return load_model(self.model, device=self.device, vae_kind=self.vae_kind,
                          decoder=self.decoder)


@cache
def _path_fields(cls: type, role: str) -> tuple[PathField, ...]:
    return tuple(PathField(f.name, f.metadata.get("form", PATHS),
                           f.metadata.get("store_images", False))
                 for f in dataclasses.fields(cls) if f.metadata.get("path") == role)


@cache
def _type_hints(cls: type) -> dict:
    return typing.get_type_hints(cls)


def _from_json(hint, value):
    """`value` as read from JSON, with lists made tuples wherever `hint` says tuple."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if value is None:
        return None
    if origin in (typing.Union, UnionType):  # X | None: the value is one of the others
        shapes = [a for a in args if a is not type(None)]
        return _from_json(shapes[0], value) if len(shapes) == 1 else value
    if origin is tuple and isinstance(value, (list, tuple)):
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_from_json(args[0], v) for v in value)
        return tuple(_from_json(a, v) for a, v in zip(args, value)) \
            if len(args) == len(value) else tuple(value)
    if origin is list and isinstance(value, list) and args:
        return [_from_json(args[0], v) for v in value]
    return value
