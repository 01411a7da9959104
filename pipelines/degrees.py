"""degrees: X Degrees of Separation. A chain of real images from a pool that leads from one
picture to another in small steps of what the pictures show (`--features`: pooled encoder
features by default, the latents, or an open_clip embedding), rendered as a video of latent
morphs between consecutive images (with each real image shown exactly, and held), plus a
contact sheet of the chain with its step distances.

Steps: load the model and the pool (a latent store, or a folder encoded on the fly); place
the two ends and any waypoints among its points (latentfx/features/space.py); find the chain
on a k-nearest-neighbour graph (latentfx/graph/); render it as a walk (latentfx/walk/) with
the same model; write the sheet and the manifest.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from latentfx.errors import InputError
from latentfx.io.outputs import IMAGE_OUTPUTS, check_output_file
from latentfx.options import DEFAULT_FEATURES, MORPHS, check_features
from pipelines.specs import FEATURES, ModelSpec, input_path, output_path

if TYPE_CHECKING:  # annotations only: these bring torch, so they are imported where used
    from latentfx.walk.outputs import VideoOutputs
    from latentfx.walk.video import WalkVideo

METRICS = ("euclidean", "cosine")


@dataclass
class DegreesSpec(ModelSpec):
    start: str = input_path()
    end: str = input_path()
    pool: str = input_path(store_images=True)  # a latent store or a folder of images
    output: str = output_path()
    sheet: str | None = output_path(None)
    images: int = 8            # real images between the two ends
    k: int = 10                # neighbours per image in the graph
    via: list[str] = input_path(default_factory=list)  # waypoints, in order
    exclude: list[str] = field(default_factory=list)  # globs on pool paths or file names
    metric: str = "euclidean"
    features: str = input_path(DEFAULT_FEATURES, form=FEATURES)  # latentfx/features/space.py
    model: str | None = None
    folder: str | None = input_path(None)  # where a store's images are now, if the folder moved
    frames: int = 24           # frames per morph between two images
    morph: str | None = None   # default: flow for models whose latent is a picture, else none
    # Written before walks could morph: rendered without (a dissolve).
    LEGACY_VALUES = {"morph": "none"}
    hold: int = 12             # frames each real image rests on screen
    fps: float = 24.0
    size: tuple[int, int] | None = None
    fit: str = "crop"
    crf: int | None = None
    codec: str | None = None
    batch: int = 8
    device: str = "auto"

    def validate(self) -> None:
        from latentfx.options import check_render_options

        if self.images < 0:
            raise InputError(f"-n must be 0 or more, got {self.images}")
        if self.k < 2:
            raise InputError(f"-k must be at least 2, got {self.k}")
        if self.metric not in METRICS:
            raise InputError(f"--metric must be one of {', '.join(METRICS)}, got {self.metric!r}")
        check_features(self.features)
        if self.morph is not None and self.morph not in MORPHS:
            raise InputError(f"--morph must be one of {', '.join(MORPHS)}, got {self.morph!r}")
        if self.frames < 1 or self.hold < 0:
            raise InputError(f"--frames must be at least 1 and --hold 0 or more, got "
                             f"{self.frames} and {self.hold}")
        for picture in (self.start, self.end, *self.via):
            if not Path(picture).is_file():
                raise InputError(f"{picture}: no such image")
        pool = Path(self.pool)
        if not (pool.is_dir() or pool.is_file()):
            raise InputError(f"--pool {self.pool}: no such latent store or folder")
        check_render_options(size=self.size, batch=self.batch)
        self.outputs().check()
        if self.sheet:
            check_output_file(self.sheet, suffixes=IMAGE_OUTPUTS)

    def resolved(self) -> "DegreesSpec":
        """The spec with the morph settled for the model, as the manifest records it."""
        from latentfx.walk.morph import resolve_morph

        return dataclasses.replace(self, morph=resolve_morph(self.model, self.morph,
                                                             space="latent"))

    def outputs(self) -> VideoOutputs:
        """Where and how the video is written (the chain's contact sheet is this job's own,
        not a sheet of frames)."""
        from latentfx.walk.outputs import VideoOutputs

        return VideoOutputs(output=self.output, fps=self.fps, crf=self.crf, codec=self.codec)


@dataclass
class ChainLink:
    path: str          # the image file
    step: float        # distance from the previous image (0 for the first), in the features
    in_pool: bool      # False for the ends and waypoints that are not in the pool


@dataclass
class DegreesResult:
    output: Path
    chain: list[ChainLink]
    largest_step: float
    total_length: float
    direct: float                   # the one jump from start to end
    frames: int
    search_seconds: float
    seconds: float
    video: WalkVideo                # what the render wrote and measured
    sheet: Path | None = None
    notes: list[str] = field(default_factory=list)
    graph_from_cache: bool = False  # the neighbour graph was kept from an earlier run
    features: str = ""              # what the steps were measured in (FeatureSpace.key)


def run(spec: DegreesSpec, *, progress: Callable[[int, int, str], None] | None = None,
        cancel: Callable[[], bool] | None = None) -> DegreesResult:

    # 1. Check inputs, load the model and the pool.
    spec = spec.checked()
    started = time.perf_counter()
    model, info = spec.load_model()
    store, folder = _pool(spec, model, info.model_id, progress=progress, cancel=cancel)

    # 2. Place the ends and waypoints among the pool's latents; find the chain.
    searched = time.perf_counter()
    chain, direct, notes, cached, features = _search(spec, store, model, folder, progress)
    search_seconds = time.perf_counter() - searched
    links = [ChainLink(_file(node, store, folder, extra), step, extra is None)
             for node, step, extra in chain]

    # 3. Render the morphs, then the sheet and the manifest (which lists the chain).
    video, render_notes = _render(spec, model, info.model_id, [link.path for link in links],
                                  progress=progress, cancel=cancel)
    if spec.sheet:
        _sheet(spec, links, store_like=store)
    result = DegreesResult(Path(spec.output), links, max(l.step for l in links),
                           sum(l.step for l in links), direct, video.frames, search_seconds,
                           time.perf_counter() - started, video,
                           Path(spec.sheet) if spec.sheet else None, notes + render_notes,
                           cached, features)
    _manifest(spec, result, info.model_id)
    return result


def _pool(spec: DegreesSpec, model, model_id: str, *, progress, cancel):
    """(LatentStore, folder its paths are relative to). A folder is encoded first, in memory:
    run `latentfx encode` once to keep a store and reuse it."""
    from latentfx.latents.encoding import encode_folder, store_size
    from latentfx.latents.queries import image_folder
    from latentfx.latents.stores import LatentStore

    if Path(spec.pool).is_dir():
        store = encode_folder(model, spec.pool, model_id=model_id, size=store_size(model),
                              progress=progress, cancel=cancel).store
        folder = Path(spec.pool)
    else:
        store = LatentStore.load(spec.pool)
        store.require_model(model_id, store_path=spec.pool)
        folder = image_folder(store, spec.pool, spec.folder)
    if len(store) < 2:
        raise InputError(f"--pool {spec.pool}: holds {len(store)} image(s); a chain needs a "
                         f"pool of many")
    return store, folder


def excluded(store, patterns: list[str]) -> list[int]:
    """Pool entries whose path in the pool, or file name, matches one of the globs."""
    return [i for i, path in enumerate(store.paths)
            if any(fnmatch.fnmatch(path, p) or fnmatch.fnmatch(Path(path).name, p)
                   for p in patterns)]


def _file(node: int, store, folder: Path, extra: str | None) -> str:
    if extra is not None:
        return extra
    path = folder / store.paths[node]
    if not path.is_file():
        raise InputError(f"{path}: chain image not found; the pool's images are looked for "
                         f"in {folder}; if the folder moved, give its new place with --folder")
    return str(path)


def _render(spec: DegreesSpec, model, model_id: str, paths: list[str], *, progress, cancel):
    """The walk through the chain: slerp with a smooth ease, moving the content of
    neighbouring images that correspond (--morph), every real image exact (residuals added
    back, and moved with it) and held. -> (latentfx.walk.video.WalkVideo, notes)."""
    from latentfx.models.foreign.cost import say_cost
    from latentfx.walk.frames import build_walk
    from latentfx.walk.keyframes import load_keyframes
    from latentfx.walk.video import render_walk_video

    outputs = spec.outputs()
    frames = build_walk(model, load_keyframes(paths), model_id=model_id, size=spec.size,
                        even=outputs.needs_even_size, fit=spec.fit, interp="slerp",
                        ease="smooth", fps=spec.fps, frames=spec.frames, hold=spec.hold,
                        residual=True, morph=spec.morph, batch=spec.batch, progress=progress)
    say_cost(model, frames.size, len(frames), progress)
    video = render_walk_video(frames, outputs, batch=spec.batch, cancel=cancel,
                              progress=progress)
    return video, frames.notes


def _sheet(spec: DegreesSpec, links: list[ChainLink], *, store_like) -> None:
    from latentfx.images.contact_sheets import Cell, contact_sheet
    from latentfx.latents.queries import fitted_like

    cells = []
    for i, link in enumerate(links):
        step = "start" if i == 0 else f"step {link.step:.3g}"
        cells.append(Cell(fitted_like(store_like, link.path),
                          f"{i}: {step}\n{Path(link.path).name}"))
    contact_sheet(cells, spec.sheet, columns=min(6, len(cells)))


def _manifest(spec: DegreesSpec, result: DegreesResult, model_id: str) -> None:
    from latentfx.io.manifests import input_record, write_manifest

    pool = [] if Path(spec.pool).is_dir() else [input_record(spec.pool)]
    write_manifest(spec.output.rstrip("/"), job="degrees", spec=asdict(spec),
                   model_id=model_id,
                   inputs=pool + [input_record(link.path) for link in result.chain],
                   timings={"seconds": round(result.seconds, 3),
                            "search_seconds": round(result.search_seconds, 3),
                            **result.video.timings(),
                            "graph_from_cache": result.graph_from_cache},
                   results={"chain": [asdict(link) for link in result.chain],
                            "largest_step": result.largest_step,
                            "total_length": result.total_length, "direct": result.direct,
                            "features": result.features,
                            **result.video.results(), "notes": result.notes})


def _search(spec: DegreesSpec, store, model, folder: Path, progress=None):
    """[(node, step from the previous node, the user's file for nodes not in the pool)],
    the direct distance from start to end, the search's notes, whether the neighbour graph
    came from the cache, and what the points were (FeatureSpace.key). Nodes are pool
    indices, then the stops that are not in the pool."""
    import numpy as np

    from latentfx.features.space import feature_space
    from latentfx.graph.cache import neighbor_graph
    from latentfx.graph.chain_search import find_chain

    # Excluded images are not in the pool at all: the graph links the others around them.
    left_out = set(excluded(store, spec.exclude))
    kept = np.array([i for i in range(len(store)) if i not in left_out], dtype=np.int64)
    if len(kept) < 2:
        raise InputError(f"--exclude leaves {len(kept)} of the pool's {len(store)} images; "
                         f"a chain needs more")
    space = feature_space(store, spec.features, model=model, folder=folder,
                          store_path=spec.pool, device=spec.device, progress=progress)
    stops, extra_points, files = _stops(spec, store, space, kept)
    points = np.concatenate([space.points[kept], *extra_points])
    # Built once per set of points, k, metric and features, then read back
    # (latentfx/graph/cache.py).
    graph, cached = neighbor_graph(points, k=min(spec.k, len(points) - 1), metric=spec.metric,
                                   features=space.key, progress=progress)
    names = [Path(p).name for p in (spec.start, *spec.via, spec.end)]
    chain = find_chain(graph, stops[0], stops[-1], n=spec.images, via=stops[1:-1],
                       names=names)

    def pool_node(node: int) -> int:
        return int(kept[node]) if node < len(kept) else len(store) + node - len(kept)

    links = [(pool_node(node), step, files.get(node))
             for node, step in zip(chain.nodes, (0.0, *chain.steps))]
    return links, chain.direct, list(chain.notes), cached, space.key


def _stops(spec: DegreesSpec, store, space, kept):
    """Graph nodes of the start, the waypoints and the end: an image that is in the pool
    (same bytes) is that pool node; any other is featurised as the pool's images were and
    becomes a node of its own after the pool's. Returns (nodes, their points, {node: file})."""
    from latentfx.io.safetensors_files import file_sha256

    position = {int(i): n for n, i in enumerate(kept)}
    by_hash = {h: position[i] for i, h in enumerate(store.hashes) if i in position}
    stops, extra_points, files, seen = [], [], {}, set()
    for picture in [spec.start, *spec.via, spec.end]:
        digest = file_sha256(picture)
        if digest in seen:
            raise InputError(f"{picture}: is already a stop of this chain (the start, the end "
                             f"and each --via must be different images)")
        seen.add(digest)
        node = by_hash.get(digest)
        if node is None:
            node = len(kept) + len(extra_points)
            extra_points.append(space.query([picture]))
            files[node] = picture
        stops.append(node)
    return stops, extra_points, files
