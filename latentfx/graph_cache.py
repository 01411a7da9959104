"""Keeping `degrees`' neighbour graphs between runs.

Building the graph is nearly all of a `degrees` run (11 s for 50,000 images), and an artist
trying pair after pair from one pool asks for the same graph every time. A graph is filed
under a key made of everything it depends on (the exact points, k, the metric, the build
settings and this format's version), so a changed pool, k or metric simply misses, and a hit
is the very graph a fresh build gives. Files are safetensors (edges and copy groups; the
points are the caller's) in LATENTFX_CACHE, else $XDG_CACHE_HOME/latentfx, else
~/.cache/latentfx; the KEEP most recently used are kept. A cache that cannot be read or
written is only slower: the graph is built as if there were none.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Callable

import numpy as np

from .chains import DUPLICATE_FRACTION, MAX_SEARCH_DIM, NeighborGraph, build_graph, \
    prepare_points

FORMAT_VERSION = 1
KEEP = 8  # graphs kept; at 50,000 images and k 10 one is ~25 MB
EDGE_ARRAYS = ("rows", "cols", "weights", "groups")


def cache_folder() -> Path:
    chosen = os.environ.get("LATENTFX_CACHE")
    if chosen:
        return Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "latentfx"


def neighbor_graph(points: np.ndarray, *, k: int, metric: str,
                   progress: Callable[[int, int, str], None] | None = None
                   ) -> tuple[NeighborGraph, bool]:
    """build_graph(points, k=, metric=), from the cache when it holds it. -> (graph, whether
    it came from the cache)."""
    x = prepare_points(points, metric)
    path = cache_folder() / "graphs" / f"{_key(x, k, metric)}.safetensors"
    graph = _read(path, x, k, metric)
    if graph is not None:
        os.utime(path)  # most recently used
        return graph, True
    graph = build_graph(points, k=k, metric=metric, progress=progress)
    _write(path, graph)
    return graph, False


def _key(x: np.ndarray, k: int, metric: str) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps({"format": FORMAT_VERSION, "k": k, "metric": metric,
                              "shape": x.shape, "max_dim": MAX_SEARCH_DIM,
                              "duplicates": DUPLICATE_FRACTION}).encode())
    digest.update(memoryview(x).cast("B"))
    return digest.hexdigest()[:32]


def _read(path: Path, x: np.ndarray, k: int, metric: str) -> NeighborGraph | None:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="numpy") as fh:
            meta = json.loads(fh.metadata()["latentfx"])
            arrays = {name: fh.get_tensor(name) for name in EDGE_ARRAYS}
    except Exception:  # noqa: BLE001 - missing, damaged or foreign: build afresh
        return None
    if (meta.get("format_version"), meta.get("k"), meta.get("metric")) != \
            (FORMAT_VERSION, k, metric) or len(arrays["groups"]) != len(x):
        return None
    return NeighborGraph(x, arrays["rows"], arrays["cols"], arrays["weights"], metric, k,
                         arrays["groups"], meta["duplicate_distance"],
                         meta["projected_variance"])


def _write(path: Path, graph: NeighborGraph) -> None:
    from safetensors.numpy import save_file

    from .atomic import atomic_path

    meta = {"format_version": FORMAT_VERSION, "k": graph.k, "metric": graph.metric,
            "duplicate_distance": graph.duplicate_distance,
            "projected_variance": graph.projected_variance}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            save_file({name: np.ascontiguousarray(getattr(graph, name)) for name in EDGE_ARRAYS},
                      str(tmp), metadata={"latentfx": json.dumps(meta)})
        _prune(path.parent)
    except OSError:
        pass  # a read-only or full disk: the next run builds the graph again


def _prune(folder: Path) -> None:
    """Keep the KEEP most recently used graphs."""
    graphs = sorted(folder.glob("*.safetensors"), key=lambda p: p.stat().st_mtime,
                    reverse=True)
    for old in graphs[KEEP:]:
        old.unlink(missing_ok=True)
