"""Chains of real images between two images, every step small: the search behind `degrees`.

It runs on a NeighborGraph (latentfx/graph/neighbor_graph.py). Which member of a copy group a
chain may use is decided here, because only the search knows the endpoints: they win over pool
copies of themselves (`representatives`, `near_duplicates`), and the group's edges are handed to
that member, re-weighted exactly. So no image appears next to its own copy, nor a copy of the
start as the first step.

The objective, per leg with m images asked for (h = m + 1 steps):

a. The bottleneck B: the smallest possible largest step over paths of at most h steps, by a
   hop-limited Bellman-Ford in the (min, max) semiring, vectorised over the edges of the nodes
   whose value changed in the last round. A walk can be used in place of a path: cutting a
   loop out of a walk never adds a step nor makes one longer. When the end is more than h
   steps away in the graph, the budget becomes the fewest steps that reach it and the chain
   says so in a note instead of failing.
b. Among paths whose steps are all <= B: step count closest to h, then the smallest total
   length. Exact "exactly h steps" searches return walks that pad the count by going back and
   forth over a short edge, so instead Dijkstra runs with step costs (d / B) ** p: p = 0 gives
   the fewest steps, larger p prefers many small steps (p = 1 is the shortest total length),
   and p is bisected between the grid values that bracket h. Dijkstra's paths are simple. The
   candidate with the best (|steps - h|, largest step, total length) is kept.

With waypoints, the images asked for are split among the legs in proportion to each leg's
direct distance, and each leg may not use the images of earlier legs nor any other stop, so
no image appears twice. For the cosine metric, points are L2-normalised and everything is
searched with the chord (euclidean) distance, which is monotone in the cosine distance and,
unlike it, a metric; steps are reported as cosine distances (1 - cos).
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components, dijkstra

from latentfx.errors import InputError
from latentfx.graph.neighbor_graph import NeighborGraph, pair_distances, reported_distance

POWERS = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0)  # Dijkstra step-cost exponents tried in stage b
REFINE_STEPS = 5            # bisections of the exponent between the two bracketing h

class DisconnectedPool(InputError):
    """Two stops of a chain lie on parts of the k-NN graph that no path joins."""

    def __init__(self, message: str, *, sizes: tuple[int, ...], k: int,
                 suggested_k: int | None = None):
        super().__init__(message)
        self.sizes, self.k = sizes, k
        self.suggested_k = 2 * k if suggested_k is None else suggested_k


@dataclass(frozen=True)
class Chain:
    """A path of node indices from start to end, its step lengths (in the graph's metric:
    euclidean, or cosine distance) and notes on where it differs from what was asked."""

    nodes: tuple[int, ...]
    steps: tuple[float, ...]
    notes: tuple[str, ...]
    direct: float  # distance of the direct jump from start to end, for comparison

    @property
    def largest_step(self) -> float:
        return max(self.steps, default=0.0)

    @property
    def total_length(self) -> float:
        return float(sum(self.steps))

    @property
    def images(self) -> int:
        """How many images lie between the start and the end (waypoints included)."""
        return len(self.nodes) - 2

# -- copies ---------------------------------------------------------------------------------

def representatives(graph: NeighborGraph, *, keep: Sequence[int] = (),
                    exclude: Sequence[int] = ()) -> np.ndarray:
    """(N,) the point that stands for each point: itself, or the member of its copy group
    that stays usable. Members of `keep` (the stops) win and always stand for themselves;
    then members not in `exclude`; then the lowest index."""
    n = graph.size
    priority = np.ones(n, dtype=np.int8)
    priority[list(exclude)] = 2
    priority[list(keep)] = 0
    order = np.lexsort((np.arange(n), priority, graph.groups))  # by group, priority, index
    sorted_groups = graph.groups[order]
    leaders = order[np.r_[True, sorted_groups[1:] != sorted_groups[:-1]]]
    leader_of = np.empty(graph.groups.max() + 1, dtype=np.int64)
    leader_of[graph.groups[leaders]] = leaders
    rep = leader_of[graph.groups]
    rep[list(keep)] = list(keep)
    return rep


def near_duplicates(graph: NeighborGraph, *, keep: Sequence[int] = (),
                    exclude: Sequence[int] = ()) -> np.ndarray:
    """Indices of the points a chain may not use because another copy stands for them."""
    return np.flatnonzero(representatives(graph, keep=keep, exclude=exclude)
                          != np.arange(graph.size))


# -- the search -----------------------------------------------------------------------------

def find_chain(graph: NeighborGraph, start: int, end: int, *, n: int,
               via: Sequence[int] = (), exclude: Sequence[int] = (),
               names: Sequence[str] | None = None) -> Chain:
    """A chain from `start` to `end` through `via` (in order) with about `n` pool images
    between the stops (waypoints come on top), avoiding `exclude` and copies of other points.
    `names`: what to call the stops in messages (default: the start, waypoint i, the end).

    Raises DisconnectedPool when two consecutive stops cannot be joined.
    """
    stops = _check_stops(graph, [start, *via, end])
    names = list(names) if names is not None else _stop_names(len(stops))
    n = _check_count(n)
    exclude = _check_exclude(graph, exclude)
    rep = representatives(graph, keep=stops, exclude=exclude)
    blocked = _blocked(rep, stops, exclude)
    edges = _joined(_usable_edges(graph, rep, blocked), _twin_stops(graph, rep, stops))
    _check_islands(graph, edges, stops, names)
    legs = list(zip(stops[:-1], stops[1:]))
    counts = _split(n, [graph.distance(a, b) for a, b in legs])
    used = blocked.copy()
    used[stops] = True
    nodes, notes = [stops[0]], []
    for number, ((a, b), m) in enumerate(zip(legs, counts)):
        forbidden = used.copy()
        forbidden[[a, b]] = False
        path, note = _leg(graph, edges, a, b, m, forbidden,
                          name=f"{names[number]} to {names[number + 1]}")
        used[path] = True
        nodes += path[1:]
        notes += note
    chords = pair_distances(graph.points, np.array(nodes[:-1]), np.array(nodes[1:]))
    steps = reported_distance(chords, graph.metric)
    return Chain(tuple(nodes), tuple(float(s) for s in steps), tuple(notes),
                 graph.distance(start, end))


def _check_stops(graph: NeighborGraph, stops: list[int]) -> list[int]:
    stops = [operator.index(s) for s in stops]
    for s in stops:
        if not 0 <= s < graph.size:
            raise InputError(f"node {s} is not in the graph (it has {graph.size} points)")
    if len(set(stops)) < len(stops):
        raise InputError(f"the start, waypoints and end must be different points, got {stops}")
    return stops


def _check_count(n: int) -> int:
    n = operator.index(n)
    if n < 0:
        raise InputError(f"-n (images between the ends) must be at least 0, got {n}")
    return n


def _check_exclude(graph: NeighborGraph, exclude: Sequence[int]) -> list[int]:
    exclude = [operator.index(e) for e in exclude]
    outside = [e for e in exclude if not 0 <= e < graph.size]
    if outside:
        raise InputError(f"excluded node {outside[0]} is not in the graph "
                         f"(it has {graph.size} points)")
    return exclude


def _blocked(rep: np.ndarray, stops: list[int], exclude: list[int]) -> np.ndarray:
    """(N,) bool: points no chain may use (excluded, or a copy that another point stands
    for); never a stop."""
    blocked = rep != np.arange(len(rep))
    blocked[exclude] = True
    blocked[stops] = False
    return blocked


def _usable_edges(graph: NeighborGraph, rep: np.ndarray, blocked: np.ndarray):
    """The graph with copies merged into their representative (which takes over their edges,
    re-weighted exactly) and blocked points removed: (rows, cols, weights)."""
    u, v = rep[graph.rows], rep[graph.cols]
    moved = (u != graph.rows) | (v != graph.cols)
    keep = (u != v) & ~blocked[u] & ~blocked[v]
    u, v, w, moved = u[keep], v[keep], graph.weights[keep].copy(), moved[keep]
    w[moved] = pair_distances(graph.points, u[moved], v[moved])
    low, high = np.minimum(u, v), np.maximum(u, v)
    _, first = np.unique(low * graph.size + high, return_index=True)
    return low[first], high[first], w[first]


def _twin_stops(graph: NeighborGraph, rep: np.ndarray, stops: list[int]):
    """Edges from a stop to the stop that carries its copy group's edges, for stops that are
    copies of each other (say the same image given as start and end)."""
    pairs = []
    for stop in stops:
        carrier = int(rep[np.flatnonzero(graph.groups == graph.groups[stop])[0]])
        if carrier != stop:
            pairs.append((min(carrier, stop), max(carrier, stop)))
    u, v = (np.array(side, dtype=np.int64) for side in zip(*pairs)) if pairs else (
        np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
    return u, v, pair_distances(graph.points, u, v)


def _joined(*edge_lists):
    return tuple(np.concatenate(parts) for parts in zip(*edge_lists))


def _matrix(edges, n: int, *, keep: np.ndarray | None = None) -> csr_matrix:
    """Symmetric CSR matrix of the edges (optionally only those where `keep` is true)."""
    u, v, w = edges if keep is None else (e[keep] for e in edges)
    return csr_matrix((np.r_[w, w], (np.r_[u, v], np.r_[v, u])), shape=(n, n))


def _check_islands(graph: NeighborGraph, edges, stops: list[int], names: list[str]) -> None:
    labels = connected_components(_matrix(edges, graph.size), directed=False)[1]
    sizes = np.bincount(labels)
    for number, (a, b) in enumerate(zip(stops[:-1], stops[1:])):
        if labels[a] != labels[b]:
            needed = max(graph.k + 1, _joining_k(graph, np.flatnonzero(labels == labels[a]),
                                                 np.flatnonzero(labels == labels[b])))
            raise DisconnectedPool(
                f"{names[number]} and {names[number + 1]} lie on islands of "
                f"{sizes[labels[a]]:,} and {sizes[labels[b]]:,} images ({len(sizes):,} "
                f"islands in all) that the {graph.k}-nearest-neighbour graph does not "
                f"connect; -k {needed} makes the two islands' closest images neighbours "
                f"(the chain then crosses that gap in one step)",
                sizes=(int(sizes[labels[a]]), int(sizes[labels[b]])), k=graph.k,
                suggested_k=needed)


def _joining_k(graph: NeighborGraph, island: np.ndarray, other: np.ndarray) -> int:
    """The k at which the two islands' closest pair of points become neighbours: the least
    -k that can join them (copies and exclusions can make the graph need a little more)."""
    from sklearn.neighbors import NearestNeighbors

    small, large = sorted((island, other), key=len)
    gaps, nearest = NearestNeighbors(n_neighbors=1).fit(graph.points[small]) \
        .kneighbors(graph.points[large])
    i = int(np.argmin(gaps[:, 0]))
    p, q, gap = int(large[i]), int(small[nearest[i, 0]]), gaps[i, 0]
    everyone = np.arange(graph.size)

    def rank(a: int) -> int:  # how many points are no farther from a than the gap (a excluded)
        return int((pair_distances(graph.points, np.full(graph.size, a), everyone)
                    <= gap * (1 + 1e-6)).sum()) - 1

    return min(rank(p), rank(q))


def _stop_names(count: int) -> list[str]:
    return ["the start", *(f"waypoint {i}" for i in range(1, count - 1)), "the end"]


def _split(n: int, lengths: list[float]) -> list[int]:
    """n images shared among legs in proportion to their lengths (largest remainders)."""
    total = sum(lengths)
    shares = [n * x / total for x in lengths] if total > 0 else [n / len(lengths)] * len(lengths)
    counts = [math.floor(s) for s in shares]
    by_remainder = sorted(range(len(shares)), key=lambda i: counts[i] - shares[i])
    for i in by_remainder[: n - sum(counts)]:
        counts[i] += 1
    return counts


def _leg(graph: NeighborGraph, edges, a: int, b: int, m: int, forbidden: np.ndarray, *,
         name: str) -> tuple[list[int], list[str]]:
    """The path a -> b with about m images, avoiding `forbidden`, and notes on it."""
    u, v, _ = edges
    allowed = ~forbidden[u] & ~forbidden[v]
    matrix = _matrix(edges, graph.size, keep=allowed)
    bottleneck, hops = _bottleneck(matrix, a, b, m + 1)
    if bottleneck is None:
        raise DisconnectedPool(
            f"{name}: the only connections run through images the chain already uses; try a "
            f"larger -k, e.g. -k {2 * graph.k}, or other waypoints", sizes=(), k=graph.k)
    notes = []
    if hops > m + 1:
        notes.append(f"{name}: {_images(hops - 1)} instead of {m}: no shorter chain exists in "
                     f"the {graph.k}-nearest-neighbour graph (a larger -k allows fewer)")
    limit = bottleneck * (1 + 1e-9)
    path = _closest_to(_matrix(edges, graph.size, keep=allowed & (edges[2] <= limit)),
                       a, b, hops, scale=bottleneck)
    if hops == m + 1 and len(path) != hops + 1:
        largest = reported_distance(bottleneck, graph.metric)
        notes.append(f"{name}: {_images(len(path) - 2)} instead of {m}: no chain with every "
                     f"step at most {largest:.4g} has exactly {m}")
    return path, notes


def _images(count: int) -> str:
    return f"{count} image" if count == 1 else f"{count} images"


def _bottleneck(matrix: csr_matrix, start: int, end: int, hops: int):
    """(B, h): the smallest largest step over walks start -> end of at most h steps, where h
    is `hops`, or the fewest steps that reach `end` when that is more. (None, 0) if none."""
    best = np.full(matrix.shape[0], np.inf)
    best[start] = 0.0
    active, done = np.array([start]), 0
    while active.size and (done < hops or not np.isfinite(best[end])):
        best, active = _relax(matrix, best, active)
        done += 1
    if not np.isfinite(best[end]):
        return None, 0
    return float(best[end]), max(done, hops)


def _relax(matrix: csr_matrix, best: np.ndarray, active: np.ndarray):
    """One Bellman-Ford round in the (min, max) semiring, from the nodes that changed last
    round only (the others' offers are already counted): new values and the changed nodes."""
    rows = matrix[active]
    through = np.maximum(np.repeat(best[active], np.diff(rows.indptr)), rows.data)
    new = best.copy()
    np.minimum.at(new, rows.indices, through)
    return new, np.flatnonzero(new < best)


def _closest_to(matrix: csr_matrix, start: int, end: int, hops: int, *,
                scale: float) -> list[int]:
    """Among Dijkstra paths for step costs (d / scale) ** p, the one whose step count is
    closest to `hops`, then with the smallest largest step, then the shortest."""
    scaled = matrix.copy()
    scaled.data = np.maximum(scaled.data / (scale if scale > 0 else 1.0), 1e-12)
    tried = {p: _dijkstra_path(scaled, start, end, p) for p in POWERS}
    for _ in range(REFINE_STEPS):
        bracket = _bracket({p: len(path) - 1 for p, path in tried.items()}, hops)
        if bracket is None:
            break
        p = sum(bracket) / 2
        tried[p] = _dijkstra_path(scaled, start, end, p)
    return min(tried.values(), key=lambda path: _rank(matrix, path, hops))


def _bracket(steps_by_power: dict[float, int], hops: int) -> tuple[float, float] | None:
    """Neighbouring exponents whose paths have fewer and more steps than wanted (the step
    count grows with the exponent), or None when one hits it or none bracket it."""
    powers = sorted(steps_by_power)
    if hops in steps_by_power.values():
        return None
    for low, high in zip(powers, powers[1:]):
        if steps_by_power[low] < hops < steps_by_power[high]:
            return low, high
    return None


def _dijkstra_path(scaled: csr_matrix, start: int, end: int, power: float) -> list[int]:
    cost = scaled.copy()
    cost.data = cost.data ** power
    _, previous = dijkstra(cost, directed=True, indices=start, return_predecessors=True)
    path = [end]
    while path[-1] != start:
        path.append(int(previous[path[-1]]))
    return path[::-1]


def _rank(matrix: csr_matrix, path: list[int], hops: int) -> tuple[int, float, float]:
    steps = np.asarray(matrix[path[:-1], path[1:]]).ravel()
    return abs(len(path) - 1 - hops), float(steps.max()), float(steps.sum())
