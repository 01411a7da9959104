"""Keeping `degrees`' neighbour graphs between runs.

Building the graph is nearly all of a `degrees` run (11 s for 50,000 images), and an artist
trying pair after pair from one pool asks for the same graph every time. A graph is filed
under a key made of everything it depends on (the exact points, what they are -- which
features of the pictures --, k, the metric, build_graph's settings and its GRAPH_VERSION), so a
changed pool, features, k or metric simply misses, and a hit is
the very graph a fresh build gives. Files are safetensors (edges and copy groups; the points
are the caller's) in LATENTFX_CACHE, else $XDG_CACHE_HOME/latentfx, else ~/.cache/latentfx;
the KEEP most recently used are kept. A cache that cannot be found, read or written is only
slower: the graph is built as if there were none.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Callable

import numpy as np

from latentfx.graph.neighbor_graph import (DUPLICATE_FRACTION, GRAPH_VERSION, MAX_SEARCH_DIM,
                                           PCA_SAMPLE_ROWS, NeighborGraph, build_graph,
                                           prepare_points)

FORMAT_VERSION = 1  # of the file itself
KEEP = 8  # graphs kept; at 50,000 images and k 10 one is ~25 MB
EDGE_ARRAYS = ("rows", "cols", "weights", "groups")
# build_graph's settings as neighbor_graph calls it (its defaults): all part of the key.
SETTINGS = {"graph_version": GRAPH_VERSION, "file_version": FORMAT_VERSION,
            "max_dim": MAX_SEARCH_DIM, "pca_rows": PCA_SAMPLE_ROWS, "extra": None,
            "duplicates": DUPLICATE_FRACTION, "seed": 0}


def cache_folder() -> Path | None:
    """Where graphs are kept; None when there is nowhere (no home folder, say)."""
    chosen = os.environ.get("LATENTFX_CACHE") or os.environ.get("XDG_CACHE_HOME")
    try:
        base = Path(chosen) if chosen else Path.home() / ".cache"
    except RuntimeError:  # no home folder (a container run as an arbitrary user)
        return None
    return base if os.environ.get("LATENTFX_CACHE") else base / "latentfx"


def neighbor_graph(points: np.ndarray, *, k: int, metric: str, features: str = "",
                   progress: Callable[[int, int, str], None] | None = None
                   ) -> tuple[NeighborGraph, bool]:
    """build_graph(points, k=, metric=), from the cache when it holds it. `features` names
    what the points are (latentfx.features.space.FeatureSpace.key): two feature spaces never
    share a graph, even where their points happened to agree. -> (graph, whether it came
    from the cache)."""
    x = prepare_points(points, metric)
    folder = cache_folder()
    path = folder / "graphs" / f"{_key(x, k, metric, features)}.safetensors" if folder else None
    graph = _read(path, x, k, metric, features) if path else None
    if graph is not None:
        return graph, True
    graph = build_graph(x, k=k, metric=metric, prepared=True, progress=progress)
    if path:
        _write(path, graph, features)
    return graph, False


def _key(x: np.ndarray, k: int, metric: str, features: str) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps({**SETTINGS, "k": k, "metric": metric, "features": features,
                              "shape": x.shape}, sort_keys=True).encode())
    digest.update(memoryview(x).cast("B"))
    return digest.hexdigest()[:32]


def _read(path: Path, x: np.ndarray, k: int, metric: str, features: str) -> NeighborGraph | None:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="numpy") as fh:
            meta = json.loads(fh.metadata()["latentfx"])
            arrays = {name: fh.get_tensor(name) for name in EDGE_ARRAYS}
        os.utime(path)  # most recently used
    except Exception:  # noqa: BLE001 - missing, damaged, foreign or not ours to touch
        return None
    if (meta.get("settings"), meta.get("k"), meta.get("metric"), meta.get("features", "")) != \
            (SETTINGS, min(k, len(x) - 1), metric, features) or \
            len(arrays["groups"]) != len(x):
        return None
    return NeighborGraph(x, arrays["rows"], arrays["cols"], arrays["weights"], metric,
                         meta["k"], arrays["groups"], meta["duplicate_distance"],
                         meta["projected_variance"])


def _write(path: Path, graph: NeighborGraph, features: str) -> None:
    from safetensors.numpy import save_file

    from latentfx.io.atomic import atomic_path

    meta = {"settings": SETTINGS, "k": graph.k, "metric": graph.metric, "features": features,
            "duplicate_distance": graph.duplicate_distance,
            "projected_variance": graph.projected_variance}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            save_file({name: np.ascontiguousarray(getattr(graph, name)) for name in EDGE_ARRAYS},
                      str(tmp), metadata={"latentfx": json.dumps(meta)})
        _prune(path.parent)
    except Exception:  # noqa: BLE001 - a full, read-only or shared disk: the next run rebuilds
        pass


def _prune(folder: Path) -> None:
    """Keep the KEEP most recently used graphs (other runs' half-written ones, named with a
    leading dot, are theirs)."""
    graphs = sorted((p for p in folder.glob("*.safetensors") if not p.name.startswith(".")),
                    key=lambda p: p.stat().st_mtime, reverse=True)
    for old in graphs[KEEP:]:
        old.unlink(missing_ok=True)
