"""neighbors: the real images of a latent store nearest to an image in latent space, as a
contact sheet with their distances."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from latentfx.errors import InputError
from latentfx.io.outputs import IMAGE_OUTPUTS, check_output_file
from pipelines.specs import Spec, input_path, output_path

METRICS = ("euclidean", "cosine")


@dataclass
class NeighborsSpec(Spec):
    image: str = input_path()
    store: str = input_path(store_images=True)
    output: str = output_path()
    k: int = 8
    model: str | None = None
    metric: str = "euclidean"
    # where the store's images are now (default: where they were)
    folder: str | None = input_path(None)
    device: str = "auto"

    def validate(self) -> None:
        if self.k < 1:
            raise InputError(f"-k must be at least 1, got {self.k}")
        if self.metric not in METRICS:
            raise InputError(f"--metric must be one of {', '.join(METRICS)}, got {self.metric!r}")
        check_output_file(self.output, suffixes=IMAGE_OUTPUTS)


@dataclass
class Neighbor:
    path: str
    distance: float


@dataclass
class NeighborsResult:
    output: Path
    neighbors: list[Neighbor]


def run(spec: NeighborsSpec, *, progress: Callable[[int, int, str], None] | None = None,
        cancel: Callable[[], bool] | None = None) -> NeighborsResult:
    from sklearn.neighbors import NearestNeighbors

    from latentfx.images.contact_sheets import Cell, contact_sheet
    from latentfx.io.manifests import input_record, write_manifest
    from latentfx.latents.queries import (encode_fitted, fitted_like, image_folder,
                                          stored_picture)
    from latentfx.latents.stores import LatentStore
    from latentfx.models.loading import load_model

    # 1. Check inputs; the store must belong to the model.
    spec.validate()
    started = time.perf_counter()
    store = LatentStore.load(spec.store)
    model, info = load_model(spec.model, device=spec.device)
    store.require_model(info.model_id, store_path=spec.store)
    k = min(spec.k, len(store))

    # 2. Encode the query exactly as the store's images were encoded.
    query = fitted_like(store, spec.image)
    z = encode_fitted(model, query[None])

    # 3. Search (scikit-learn picks a tree or brute force by size and metric).
    index = NearestNeighbors(n_neighbors=k, metric=spec.metric)
    index.fit(store.latents.reshape(len(store), -1).numpy())
    distances, found = index.kneighbors(z.reshape(1, -1).numpy())
    neighbors = [Neighbor(store.paths[i], float(d)) for i, d in zip(found[0], distances[0])]

    # 4. The sheet: the query, then each neighbour (its file if found, else its decoding).
    folder = image_folder(store, spec.store, spec.folder)
    cells = [Cell(query, f"query\n{Path(spec.image).name}")]
    for n, i in zip(neighbors, found[0]):
        cells.append(Cell(stored_picture(store, int(i), model, folder=folder),
                          f"distance {n.distance:.3g}\n{n.path}"))
    contact_sheet(cells, spec.output, columns=min(5, len(cells)))
    write_manifest(spec.output, job="neighbors", spec=asdict(spec), model_id=info.model_id,
                   inputs=[input_record(spec.image), input_record(spec.store)],
                   timings={"seconds": round(time.perf_counter() - started, 3)},
                   results={"neighbors": [asdict(n) for n in neighbors]})
    return NeighborsResult(Path(spec.output), neighbors)
