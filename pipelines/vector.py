"""vector: an attribute vector, the centroid of latents with an attribute minus the centroid
of those without, from a labelled latent store (--store S --attr A) or from two folders
(--with DIR --without DIR), scored on a held-out split."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from latentfx.errors import InputError
from pipelines.specs import ModelSpec, input_path, output_path


@dataclass
class VectorSpec(ModelSpec):
    output: str = output_path()
    store: str | None = input_path(None)
    attr: str | None = None
    against: str | None = None  # another store label: from its images to attr's, not from all
    with_dir: str | None = input_path(None)
    without_dir: str | None = input_path(None)
    model: str | None = None
    holdout: float = 0.2
    seed: int = 0
    balance: tuple[str, ...] | None = None  # store labels to hold fixed
    device: str = "auto"

    def validate(self) -> None:
        from latentfx.io.outputs import check_output_file

        from_store = self.store is not None or self.attr is not None
        from_folders = self.with_dir is not None or self.without_dir is not None
        if from_store == from_folders:
            raise InputError("give --store and --attr, or --with and --without (one pair)")
        if from_store and not (self.store and self.attr):
            raise InputError("--store and --attr go together")
        if from_folders and not (self.with_dir and self.without_dir):
            raise InputError("--with and --without go together")
        if self.against is not None and not from_store:
            raise InputError("--against needs a labelled store (--store and --attr)")
        if self.against is not None and self.against == self.attr:
            raise InputError(f"--against {self.against}: give another label than --attr")
        if self.balance and not from_store:
            raise InputError("--balance needs a labelled store (--store and --attr)")
        if not 0 < self.holdout < 0.9:
            raise InputError(f"--holdout must be between 0 and 0.9, got {self.holdout:g}")
        check_output_file(self.output, suffixes={".safetensors": "safetensors"})


@dataclass
class VectorResult:
    output: Path
    name: str
    score: dict
    counts: dict


def run(spec: VectorSpec, *, progress: Callable[[int, int, str], None] | None = None,
        cancel: Callable[[], bool] | None = None) -> VectorResult:
    import torch

    from latentfx.io.manifests import write_manifest
    from latentfx.latents.attribute_vectors import (AttributeVector, balanced_centroid_difference,
                                                    centroid_difference, drift, holdout_split,
                                                    separation_score)

    # 1. Latents and who has the attribute.
    spec.validate()
    started = time.perf_counter()
    latents, has, others, model_id, name = _labelled_latents(spec, progress, cancel)

    # 2. Centroids on the training split; score on the held-out one.
    train, held = holdout_split(len(latents), spec.holdout, spec.seed)
    vector = centroid_difference(latents[train], has[train])
    drifts = {}
    if spec.balance:
        plain = vector
        vector = balanced_centroid_difference(latents[train], has[train], others[train])
        # How much each balanced-for attribute moves per unit of the vector, before and after.
        drifts = {name: {"unbalanced": round(drift(plain, latents, others[:, i]), 4),
                         "balanced": round(drift(vector, latents, others[:, i]), 4)}
                  for i, name in enumerate(spec.balance)}
    score = separation_score(latents[held], has[held], vector)
    score["drift"] = drifts
    counts = {"with": int(has.sum()), "without": int((~has).sum()), "held_out": len(held)}
    AttributeVector(vector, model_id, name, score, {"counts": counts, "spec": asdict(spec)}) \
        .save(spec.output)
    write_manifest(spec.output, job="vector", spec=asdict(spec), model_id=model_id, inputs=[],
                   timings={"seconds": round(time.perf_counter() - started, 3)},
                   results={"score": score, "counts": counts})
    return VectorResult(Path(spec.output), name, score, counts)


def _store_column(store, name: str, option: str, path: str):
    """(N,) bool: which of the store's images carry the label `name` (given as `option`)."""
    if name not in store.attributes:
        raise InputError(f"{option} {name}: not a label of {path} "
                         f"(labels: {', '.join(store.attributes)})")
    return store.labels[:, store.attributes.index(name)] > 0.5


def _labelled_latents(spec: VectorSpec, progress, cancel):
    """(latents (N, ...), has (N,) bool, the --balance labels (N, B) bool or None, model id,
    attribute name)."""
    import torch

    from latentfx.latents.encoding import encode_folder, store_size
    from latentfx.latents.stores import LatentStore

    if spec.store:
        store = LatentStore.load(spec.store)
        if spec.attr not in store.attributes:
            raise InputError(f"{spec.store}: no attribute {spec.attr!r}; it has "
                             f"{', '.join(store.attributes) or 'no labels (encode with --labels)'}")
        has = _store_column(store, spec.attr, "--attr", spec.store)
        # With --against, only the images of the two labels: "without" is the other label.
        keep = has | _store_column(store, spec.against, "--against", spec.store) \
            if spec.against else torch.ones_like(has)
        others = None
        if spec.balance:
            if spec.attr in spec.balance:
                raise InputError(f"--balance {spec.attr}: not another label of {spec.store}")
            others = torch.stack([_store_column(store, b, "--balance", spec.store)
                                  for b in spec.balance], dim=1)[keep]
        return store.latents[keep], has[keep], others, store.model_id, spec.attr
    # Both folders encoded by one model, as `latentfx encode` would with its defaults.
    model, info = spec.load_model()
    stores = [encode_folder(model, folder, model_id=info.model_id, size=store_size(model),
                            progress=progress, cancel=cancel).store
              for folder in (spec.with_dir, spec.without_dir)]
    latents = torch.cat([s.latents for s in stores])
    has = torch.cat([torch.ones(len(stores[0]), dtype=torch.bool),
                     torch.zeros(len(stores[1]), dtype=torch.bool)])
    return latents, has, None, info.model_id, Path(spec.with_dir).name
