"""The symmetric k-nearest-neighbour graph over a pool of points: the first stage of `degrees`.

`build_graph` takes an (N, D) array of points (a pool's flattened latents with the start, the
end and any waypoints appended as extra rows) and joins each point to its k nearest (an edge
when either point is among the other's k nearest), weighted by exact distances, found with
scikit-learn. Copies and near-copies are grouped here, because this is where their distances
are known (`NeighborGraph.groups`), and the neighbour lists are made between groups, so that
copies do not crowd out real neighbours; each group's edges are held by one member. Which
member of a copy group stands for it is the chain search's choice (`representatives`), since
only it knows the endpoints.

For the cosine metric, points are L2-normalised and everything is searched with the chord
(euclidean) distance, which is monotone in the cosine distance and, unlike it, a metric;
distances are reported as cosine distances (1 - cos).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from latentfx.errors import InputError

METRICS = ("euclidean", "cosine")
MAX_SEARCH_DIM = 128        # above this, candidates come from a PCA projection to this many dims
PCA_SAMPLE_ROWS = 8192      # the projection is fitted on at most this many points
PROJECT_BLOCK = 2 ** 22     # points are projected 16 MiB of float32 at a time, and exact
DISTANCE_BLOCK = 2 ** 18    # distances taken 1 MiB at a time (in cache: 3x faster than 64 MiB)
SEARCH_BLOCK = 4096         # query points per step of the neighbour search (progress)
DUPLICATE_FRACTION = 0.02   # near-copy: closer than this fraction of the median neighbour distance


@dataclass(frozen=True, eq=False)
class NeighborGraph:
    """The symmetric k-NN graph: each undirected edge once (rows < cols), exact weights.
    Edges join copy groups, each held by the group's lowest index."""

    points: np.ndarray   # (N, D) float32, L2-normalised for cosine: what distances are taken on
    rows: np.ndarray     # (E,) int64
    cols: np.ndarray     # (E,) int64
    weights: np.ndarray  # (E,) float64 euclidean distance (chord distance for cosine)
    metric: str
    k: int
    groups: np.ndarray   # (N,) label of each point's copy group (a singleton for most points)
    duplicate_distance: float  # points closer than this were grouped as copies
    # Share of the variance the PCA search projection kept (None: searched exactly). Well
    # below 1 (latents that use all their dimensions), some true neighbours may be missed.
    projected_variance: float | None = None

    @property
    def size(self) -> int:
        return len(self.points)

    def distance(self, i: int, j: int) -> float:
        """The distance between two points in the graph's metric (what a Chain reports)."""
        chord = float(pair_distances(self.points, np.array([i]), np.array([j]))[0])
        return reported_distance(chord, self.metric)


# -- building the graph ---------------------------------------------------------------------

# Bump whenever build_graph would give another graph for the same points and settings: kept
# graphs (latentfx/graph/cache.py) are filed under it.
GRAPH_VERSION = 1


def build_graph(points: np.ndarray, *, k: int = 10, metric: str = "euclidean",
                max_dim: int = MAX_SEARCH_DIM, extra: int | None = None,
                duplicates: float = DUPLICATE_FRACTION, seed: int = 0, prepared: bool = False,
                progress: Callable[[int, int, str], None] | None = None) -> NeighborGraph:
    """The symmetric k-NN graph of `points` (N, D); prepared: they already come from
    prepare_points(points, metric), which is not repeated (a second copy of a large pool).

    `extra` candidates (default k) per point are fetched when the search runs in a PCA
    projection (D > max_dim); `duplicates` is the near-copy threshold as a fraction of the
    median distance between neighbours (exact copies are always grouped). `progress(done,
    total, message)` hears how far the neighbour search (nearly all the time) has got.
    """
    x = points if prepared else prepare_points(points, metric)
    k = _check_k(k, len(x))
    space, kept = (x, None) if x.shape[1] <= max_dim else _project(x, max_dim, seed=seed)
    count = k if space is x else min(k + (k if extra is None else extra), len(x) - 1)
    everyone = np.arange(len(x))
    nearest, distances = _nearest(x, everyone, _search_all(space, count, progress), k)
    threshold = duplicates * _typical_spacing(distances)
    groups = _copy_groups(len(x), *_symmetric_edges(everyone, nearest, distances), threshold)
    leaders, nearest, distances = _between_groups(x, space, groups, nearest, distances, count)
    rows, cols, weights = _symmetric_edges(leaders, nearest, distances)
    return NeighborGraph(x, rows, cols, weights, metric, k, groups, threshold, kept)


def prepare_points(points: np.ndarray, metric: str) -> np.ndarray:
    """What distances are taken on: float32, checked, L2-normalised for cosine."""
    if metric not in METRICS:
        raise InputError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
    x = np.ascontiguousarray(points, dtype=np.float32)
    if x.ndim != 2 or len(x) < 2:
        raise InputError(f"need an (N, D) array of at least 2 points, got shape {x.shape}")
    bad = np.flatnonzero(~np.isfinite(x).all(axis=1))
    if bad.size:
        raise InputError(f"point {bad[0]} has NaN or infinite values ({bad.size} such points); "
                         "re-encode those images")
    if metric == "cosine":
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        if (norms == 0).any():
            raise InputError(f"point {int(np.flatnonzero(norms == 0)[0])} is all zeros, so its "
                             "cosine distance is undefined; use the euclidean metric")
        x = x / norms
    return x


def _check_k(k: int, n: int) -> int:
    if k < 1:
        raise InputError(f"-k must be at least 1, got {k}")
    return min(k, n - 1)


def _index(space: np.ndarray, count: int):
    """scikit-learn's brute-force search over `space`, answering `count` neighbours."""
    from sklearn.neighbors import NearestNeighbors

    # Brute force costs N^2 * D: a spatial model's 16,384 numbers per image would take many
    # minutes for a 50,000-image pool. Above MAX_SEARCH_DIM the search runs in a PCA
    # projection (_project): it keeps the directions along which the pool varies most, so
    # true neighbours stay near the top of the candidate list, and a few extra candidates
    # re-ranked by exact distance on the full vectors (_nearest) recover the rest. Vector
    # latents (D <= 128) are searched exactly: one that uses all its dimensions has no few
    # directions that matter most (projecting 128 -> 64 found a quarter of the true
    # neighbours of isotropic points), and the exact search costs only ~1.4x more here.
    return NearestNeighbors(n_neighbors=count).fit(space)


def _search(space: np.ndarray, count: int, queries: np.ndarray) -> np.ndarray:
    """(Q, count) indices of the nearest points of `space` to each query."""
    return _index(space, count).kneighbors(queries, return_distance=False)


def _search_all(space: np.ndarray, count: int, progress=None) -> np.ndarray:
    """Every point's `count` nearest others, a block of queries at a time so that a long
    search (50,000 points: seconds) reports progress."""
    index = _index(space, count + 1)
    out = np.empty((len(space), count), dtype=np.int64)
    for start in range(0, len(space), SEARCH_BLOCK):
        rows = np.arange(start, min(len(space), start + SEARCH_BLOCK))
        out[rows] = _without_self(index.kneighbors(space[rows], return_distance=False), rows)
        if progress:
            progress(int(rows[-1]) + 1, len(space), "neighbour graph")
    return out


def _without_self(found: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Each row's list less the point itself, as scikit-learn does it: where exact copies
    crowd the point out of its own list, the first entry goes instead."""
    drop = found == rows[:, None]
    crowded = ~drop.any(axis=1)
    drop[crowded, 0] = True
    drop[np.cumsum(drop, axis=1) > 1] = False  # a point listed twice: drop it once
    return found[~drop].reshape(len(rows), -1)


def _project(x: np.ndarray, dims: int, *, seed: int) -> tuple[np.ndarray, float]:
    """x in its first `dims` principal components, and the share of variance they keep.
    Fitted on a sample; projected in blocks (PCA.transform would copy all of x, centred)."""
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(seed)
    sample = x[np.sort(rng.choice(len(x), min(len(x), PCA_SAMPLE_ROWS), replace=False))]
    pca = PCA(n_components=min(dims, *sample.shape), svd_solver="randomized",
              random_state=seed).fit(sample)
    basis, mean = pca.components_.T.astype(np.float32), pca.mean_.astype(np.float32)
    step = max(1, PROJECT_BLOCK // x.shape[1])
    projected = np.concatenate([(x[i: i + step] - mean) @ basis
                                for i in range(0, len(x), step)])
    return projected, float(pca.explained_variance_ratio_.sum())


def pair_distances(x: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Exact euclidean distances between x[rows] and x[cols], from the differences (exact
    copies give exactly 0, which the |a|^2 - 2ab + |b|^2 shortcut does not), in blocks."""
    out = np.empty(len(rows), dtype=np.float64)
    step = max(1, DISTANCE_BLOCK // x.shape[1])
    for i in range(0, len(rows), step):
        diff = x[rows[i: i + step]] - x[cols[i: i + step]]  # (block, D)
        out[i: i + step] = np.sqrt(np.square(diff, out=diff).sum(axis=1))
    return out


def _nearest(x: np.ndarray, queries: np.ndarray, candidates: np.ndarray,
             k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each query's k nearest candidates by exact distance: (Q, k) indices and distances."""
    rows = np.repeat(queries, candidates.shape[1])
    exact = pair_distances(x, rows, candidates.ravel()).reshape(candidates.shape)
    order = np.argsort(exact, axis=1, kind="stable")[:, :k]
    return (np.take_along_axis(candidates, order, axis=1),
            np.take_along_axis(exact, order, axis=1))


def _symmetric_edges(sources: np.ndarray, nearest: np.ndarray, distances: np.ndarray):
    """Each (source, neighbour) pair once as (low, high, distance): an edge when either
    point is among the other's k nearest."""
    a = np.repeat(sources.astype(np.int64), nearest.shape[1])
    b = nearest.ravel().astype(np.int64)
    low, high = np.minimum(a, b), np.maximum(a, b)
    _, first = np.unique(low * (high.max(initial=0) + 1) + high, return_index=True)
    return low[first], high[first], distances.ravel()[first].astype(np.float64)


def _typical_spacing(distances: np.ndarray) -> float:
    """Median distance between neighbours, exact copies left out (0 if all are copies).
    The median over all k neighbours, not just the nearest: in a pool where most images
    have a near copy, the nearest distance would measure the copies."""
    positive = distances[distances > 0]
    return float(np.median(positive)) if positive.size else 0.0


def _copy_groups(points: int, rows, cols, weights, threshold: float) -> np.ndarray:
    """(N,) group label per point: points joined by edges no longer than `threshold`. Exact
    copies (distance 0) always are, being each other's nearest neighbours."""
    near = weights <= threshold
    links = csr_matrix((np.ones(near.sum()), (rows[near], cols[near])), shape=(points, points))
    return connected_components(links, directed=False)[1]


def _between_groups(x, space, groups, nearest, distances, count: int):
    """Neighbour lists between copy groups only: (leaders, their lists, their distances).

    Each group is kept as its lowest index (the search hands its edges to whichever member
    stands for it). Copies would otherwise fill the lists: with every image there three
    times, k = 12 leaves about 4 distinct neighbours. Leaders whose list holds a copy are
    searched again among the leaders only, which costs little when copies are few.
    """
    leaders = np.unique(groups, return_index=True)[1]
    if len(leaders) == len(x):
        return leaders, nearest, distances
    k = min(nearest.shape[1], len(leaders) - 1)
    is_leader = np.zeros(len(x), dtype=bool)
    is_leader[leaders] = True
    lists, far = nearest[leaders, :k], distances[leaders, :k]
    stale = np.flatnonzero((~is_leader[nearest[leaders]]).any(axis=1))
    if stale.size and k > 0:
        found = leaders[_search(space[leaders], min(count, len(leaders) - 1) + 1,
                                space[leaders[stale]])]
        others = np.argsort(found == leaders[stale, None], axis=1, kind="stable")[:, :-1]
        lists[stale], far[stale] = _nearest(x, leaders[stale],
                                            np.take_along_axis(found, others, axis=1), k)
    return leaders, lists, far


def reported_distance(chord: np.ndarray | float, metric: str):
    """Graph distances in the metric's units: cosine distance = chord^2 / 2 for unit vectors."""
    return chord * chord / 2 if metric == "cosine" else chord
