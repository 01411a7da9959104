"""neighbors: the real images of a latent store nearest to an image, by what they show
(`--features`: pooled encoder features by default, the latents, or an open_clip embedding),
as a contact sheet with their distances. The query itself is left out when it is in the
store."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from latentfx.errors import InputError
from latentfx.io.outputs import IMAGE_OUTPUTS, check_output_file
from latentfx.options import DEFAULT_FEATURES, check_features
from pipelines.specs import FEATURES, ModelSpec, input_path, output_path

METRICS = ("euclidean", "cosine")


@dataclass
class NeighborsSpec(ModelSpec):
    image: str = input_path()
    store: str = input_path(store_images=True)
    output: str = output_path()
    k: int = 8
    model: str | None = None
    metric: str = "euclidean"
    # where the store's images are now (default: where they were)
    folder: str | None = input_path(None)
    device: str = "auto"
    features: str = input_path(DEFAULT_FEATURES, form=FEATURES)  # latentfx/features/space.py

    def validate(self) -> None:
        if self.k < 1:
            raise InputError(f"-k must be at least 1, got {self.k}")
        if self.metric not in METRICS:
            raise InputError(f"--metric must be one of {', '.join(METRICS)}, got {self.metric!r}")
        check_features(self.features)
        check_output_file(self.output, suffixes=IMAGE_OUTPUTS)


@dataclass
class Neighbor:
    path: str
    distance: float


@dataclass
class NeighborsResult:
    output: Path
    neighbors: list[Neighbor]
    itself: list[str] = field(default_factory=list)  # the query's own entries, left out


def run(spec: NeighborsSpec, *, progress: Callable[[int, int, str], None] | None = None,
        cancel: Callable[[], bool] | None = None) -> NeighborsResult:
    from latentfx.features.space import feature_space
    from latentfx.images.contact_sheets import Cell, contact_sheet
    from latentfx.io.manifests import input_record, write_manifest
    from latentfx.latents.queries import entries_of, fitted_like, image_folder, stored_picture
    from latentfx.latents.stores import LatentStore

    # 1. Check inputs; the store must belong to the model.
    spec.validate()
    started = time.perf_counter()
    store = LatentStore.load(spec.store)
    model, info = spec.load_model()
    store.require_model(info.model_id, store_path=spec.store)
    folder = image_folder(store, spec.store, spec.folder)

    # 2. The store's entries as points, and the query featurised exactly as they were.
    space = feature_space(store, spec.features, model=model, folder=folder,
                          store_path=spec.store, device=spec.device, progress=progress)
    point = space.query([spec.image])

    # 3. Search (scikit-learn picks a tree or brute force by size and metric), without the
    # query's own entries: it would be its own nearest neighbour.
    itself = entries_of(store, spec.image, folder)
    found = space.nearest(point, k=spec.k, metric=spec.metric, leave_out=[itself])[0]
    neighbors = [Neighbor(store.paths[i], d) for i, d in found]

    # 4. The sheet: the query, then each neighbour (its file if found, else its decoding).
    cells = [Cell(fitted_like(store, spec.image), f"query\n{Path(spec.image).name}")]
    for n, (i, _) in zip(neighbors, found):
        cells.append(Cell(stored_picture(store, i, model, folder=folder),
                          f"distance {n.distance:.3g}\n{n.path}"))
    contact_sheet(cells, spec.output, columns=min(5, len(cells)))
    left_out = [store.paths[i] for i in sorted(itself)]
    write_manifest(spec.output, job="neighbors", spec=asdict(spec), model_id=info.model_id,
                   inputs=[input_record(spec.image), input_record(spec.store)],
                   timings={"seconds": round(time.perf_counter() - started, 3)},
                   results={"neighbors": [asdict(n) for n in neighbors],
                            "features": space.key, "left_out": left_out})
    return NeighborsResult(Path(spec.output), neighbors, left_out)
