"""Degrees chains on generated points with a known factor: what the chain means, not just
that it runs (monotone along the factor, small steps, the asked length, no repeats)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.sparse import csr_matrix
from scipy.stats import spearmanr
from sklearn.neighbors import NearestNeighbors

from latentfx.errors import InputError
from latentfx.graph.chain_search import DisconnectedPool, _split, find_chain, near_duplicates
from latentfx.graph.neighbor_graph import build_graph

START, END = 0, 1  # the curve's ends, t = 0 and t = 1


def curve_points(count: int, *, dim: int = 32, noise: float = 0.02, seed: int = 0):
    """Points on a smooth helix-like curve in `dim` dimensions plus noise, with their t in
    [0, 1]; rows 0 and 1 are the ends (t = 0, t = 1)."""
    rng = np.random.default_rng(seed)
    t = np.r_[0.0, 1.0, rng.random(count - 2)]
    basis = np.linalg.qr(rng.normal(size=(dim, 3)))[0].T  # (3, dim), orthonormal rows
    curve = np.stack([np.cos(3 * t), np.sin(3 * t), 2 * t], axis=1)
    points = curve @ basis + noise * rng.normal(size=(count, dim))
    return points.astype(np.float32), t


def assert_simple_path(chain, start: int, end: int) -> None:
    assert chain.nodes[0] == start and chain.nodes[-1] == end
    assert len(set(chain.nodes)) == len(chain.nodes)
    assert len(chain.steps) == len(chain.nodes) - 1


def is_edge(graph, a: int, b: int) -> bool:
    low, high = min(a, b), max(a, b)
    return bool(np.any((graph.rows == low) & (graph.cols == high)))


def graph_neighbours(graph, k: int) -> list[np.ndarray]:
    """Each node's k nearest among its graph edges (its own k nearest, when found)."""
    both = csr_matrix((np.r_[graph.weights, graph.weights],
                       (np.r_[graph.rows, graph.cols], np.r_[graph.cols, graph.rows])),
                      shape=(graph.size, graph.size))
    rows = (slice(both.indptr[i], both.indptr[i + 1]) for i in range(graph.size))
    return [both.indices[r][np.argsort(both.data[r])[:k]] for r in rows]


def reference_bottleneck(graph, start: int, end: int, hops: int) -> float:
    """Smallest largest step over walks of at most `hops` steps, by dense (min, max) DP."""
    weights = np.full((graph.size, graph.size), np.inf)
    weights[graph.rows, graph.cols] = weights[graph.cols, graph.rows] = graph.weights
    best = np.full(graph.size, np.inf)
    best[start] = 0.0
    for _ in range(hops):
        best = np.minimum(best, np.maximum(best[:, None], weights).min(axis=0))
    return float(best[end])


# -- the chain's meaning ---------------------------------------------------------------------

def test_chain_follows_the_factor_with_small_steps_and_the_asked_length():
    points, t = curve_points(60)
    graph = build_graph(points, k=12)
    assert graph.projected_variance is None  # 32 dimensions: searched exactly
    chain = find_chain(graph, START, END, n=8)
    assert_simple_path(chain, START, END)
    assert 7 <= chain.images <= 9 and not chain.notes
    assert spearmanr(t[list(chain.nodes)], np.arange(len(chain.nodes)))[0] > 0.95
    assert chain.largest_step < chain.direct / 4
    assert all(is_edge(graph, a, b) for a, b in zip(chain.nodes, chain.nodes[1:]))
    expected = np.linalg.norm(np.diff(points[list(chain.nodes)], axis=0), axis=1)
    np.testing.assert_allclose(chain.steps, expected, rtol=1e-5)
    assert chain.direct == pytest.approx(float(np.linalg.norm(points[END] - points[START])),
                                         rel=1e-5)
    assert chain.total_length == pytest.approx(sum(chain.steps))


def test_the_graph_is_the_symmetrised_k_nearest_neighbour_graph():
    points, _ = curve_points(200, seed=5)
    graph = build_graph(points, k=7)
    exact = NearestNeighbors(n_neighbors=7).fit(points).kneighbors(return_distance=False)
    pairs = {(min(i, j), max(i, j)) for i, row in enumerate(exact) for j in row}
    assert set(zip(graph.rows.tolist(), graph.cols.tolist())) == pairs
    np.testing.assert_allclose(
        graph.weights, np.linalg.norm(points[graph.rows] - points[graph.cols], axis=1),
        rtol=1e-5)


def test_largest_step_is_the_smallest_possible_with_that_many_steps():
    points, _ = curve_points(60, seed=3)
    graph = build_graph(points, k=12)
    for n in (6, 8, 12):
        chain = find_chain(graph, START, END, n=n)
        hops = len(chain.nodes) - 1
        assert chain.largest_step == pytest.approx(
            reference_bottleneck(graph, START, END, max(hops, n + 1)), rel=1e-9)


def test_asking_for_too_few_images_gives_the_fewest_possible_and_says_so():
    points, _ = curve_points(150)
    graph = build_graph(points, k=8)
    chain = find_chain(graph, START, END, n=2)
    assert_simple_path(chain, START, END)
    assert chain.images > 2
    assert len(chain.notes) == 1 and "instead of 2" in chain.notes[0] and "-k" in chain.notes[0]
    fewest = next(h for h in range(1, 200) if np.isfinite(
        reference_bottleneck(graph, START, END, h)))
    assert len(chain.nodes) - 1 == fewest


def test_waypoints_appear_in_order_and_nothing_twice():
    points, t = curve_points(60)
    graph = build_graph(points, k=12)
    early, late = (int(np.argmin(abs(t - target))) for target in (0.3, 0.7))
    chain = find_chain(graph, START, END, n=8, via=[early, late])
    assert_simple_path(chain, START, END)
    assert chain.nodes.index(early) < chain.nodes.index(late)
    assert chain.images - 2 == 8  # the pool images asked for; waypoints come on top
    assert spearmanr(t[list(chain.nodes)], np.arange(len(chain.nodes)))[0] > 0.95


def test_a_leg_that_doubles_back_does_not_reuse_the_images_of_the_one_before():
    points, t = curve_points(80)
    graph = build_graph(points, k=12)
    far, back = (int(np.argmin(abs(t - target))) for target in (0.9, 0.45))
    chain = find_chain(graph, START, back, n=10, via=[far])
    assert_simple_path(chain, START, back)
    assert far in chain.nodes


def test_a_leg_with_no_way_back_but_through_used_images_raises():
    # A corridor (0, 0) .. (9, 0) with a side branch (5, 1) .. (5, 4): from the far end of the
    # corridor, the way to the branch runs back through images the first leg used.
    corridor = [(i, 0.0) for i in range(10)]
    branch = [(5.0, j) for j in range(1, 5)]
    graph = build_graph(np.array(corridor + branch, dtype=np.float32), k=2)
    with pytest.raises(DisconnectedPool, match="already uses"):
        find_chain(graph, 0, 13, n=6, via=[9])
    assert_simple_path(find_chain(graph, 0, 13, n=6), 0, 13)  # fine without the waypoint


def test_images_are_shared_among_legs_by_length():
    assert _split(8, [1.0, 3.0]) == [2, 6]
    assert _split(7, [1.0, 1.0, 1.0]) in ([3, 2, 2], [2, 3, 2], [2, 2, 3])
    assert _split(0, [2.0, 5.0]) == [0, 0]
    assert _split(4, [0.0, 0.0]) == [2, 2]


def test_excluded_nodes_never_appear():
    points, _ = curve_points(80)
    graph = build_graph(points, k=12)
    first = find_chain(graph, START, END, n=8)
    banned = list(first.nodes[1:-1]) + [START, END]  # the ends can never be excluded
    second = find_chain(graph, START, END, n=8, exclude=banned)
    assert_simple_path(second, START, END)
    assert not set(second.nodes) & set(first.nodes[1:-1])


# -- islands ---------------------------------------------------------------------------------

def test_separated_clusters_raise_with_the_sizes_and_a_larger_k():
    rng = np.random.default_rng(0)
    left = rng.normal(size=(40, 16))
    right = rng.normal(size=(25, 16)) + 100.0
    graph = build_graph(np.concatenate([left, right]).astype(np.float32), k=5)
    with pytest.raises(DisconnectedPool) as caught:
        find_chain(graph, 0, 45, n=4)
    message = str(caught.value)
    assert isinstance(caught.value, InputError)
    assert "islands" in message and "40" in message and "25" in message
    # Every point of the smaller island is nearer to its own 24 than to any of the other's.
    assert "-k 25" in message and caught.value.suggested_k == 25
    joined = find_chain(build_graph(np.concatenate([left, right]).astype(np.float32), k=25),
                        0, 45, n=4)
    assert joined.nodes[0] == 0 and joined.nodes[-1] == 45


# -- copies ----------------------------------------------------------------------------------

def test_copies_never_pad_a_chain_and_the_ends_win_over_their_copies():
    # Every pool image three times (exact and near copies), two copies of the start, and the
    # start and end appended last, as the pipeline does: a chain asked for more images than
    # it needs would gladly pad itself with zero-length steps between copies.
    points, _ = curve_points(60)
    pool = points[2:]
    tiny = 1e-4 * np.random.default_rng(1).normal(size=pool.shape)
    start_copies = points[[START, START]] + np.array([[0.0], [1e-5]])
    rows = np.concatenate([pool, pool, pool + tiny, start_copies, points[[START, END]]])
    original = np.r_[np.tile(np.arange(len(pool)), 3), [-1, -1], [-1, -2]]
    a, b = len(rows) - 2, len(rows) - 1
    graph = build_graph(rows.astype(np.float32), k=12)
    chain = find_chain(graph, a, b, n=14)
    assert_simple_path(chain, a, b)
    inner = original[list(chain.nodes[1:-1])]
    assert len(set(inner)) == len(inner) and -1 not in inner  # no image twice, no start copy
    assert min(chain.steps) > graph.duplicate_distance > 0
    blocked = set(near_duplicates(graph, keep=[a, b]))
    assert {a - 2, a - 1} <= blocked and a not in blocked and b not in blocked


def test_more_copies_than_k_collapse_to_one():
    points, _ = curve_points(60)
    pool = np.concatenate([points, np.repeat(points[10:11], 30, axis=0)])
    graph = build_graph(pool, k=5)
    blocked = near_duplicates(graph)
    assert len(blocked) == 30 and len(np.unique(graph.groups[np.r_[10, blocked]])) == 1


def test_the_same_image_as_start_and_end_gives_a_one_step_chain():
    points, _ = curve_points(60)
    graph = build_graph(np.concatenate([points, points[[20]]]), k=8)
    chain = find_chain(graph, 20, 60, n=3)
    assert chain.nodes == (20, 60) and chain.steps == (0.0,) and chain.notes


# -- metric and dimensions -------------------------------------------------------------------

def test_cosine_ignores_lengths_and_reports_cosine_distances():
    points, t = curve_points(60)
    points += 3.0  # keep the directions apart from the origin
    scaled = points * np.random.default_rng(2).uniform(0.5, 2.0, size=(len(points), 1))
    plain = find_chain(build_graph(points, k=12, metric="cosine"), START, END, n=8)
    stretched = find_chain(build_graph(scaled.astype(np.float32), k=12, metric="cosine"),
                           START, END, n=8)
    assert plain.nodes == stretched.nodes
    unit = points / np.linalg.norm(points, axis=1, keepdims=True)
    nodes = list(plain.nodes)
    cosine = 1 - np.sum(unit[nodes[:-1]] * unit[nodes[1:]], axis=1)
    np.testing.assert_allclose(plain.steps, cosine, rtol=1e-4, atol=1e-7)
    assert plain.direct == pytest.approx(1 - float(unit[START] @ unit[END]), rel=1e-4)


def test_high_dimensional_points_are_searched_in_a_projection_with_exact_weights():
    rng = np.random.default_rng(0)
    factors = rng.random((2000, 6))
    mixing = rng.normal(size=(12, 1024)) / np.sqrt(12)
    points = (np.concatenate([np.sin(3 * factors), np.cos(3 * factors)], axis=1) @ mixing
              + 0.05 * rng.normal(size=(2000, 1024))).astype(np.float32)
    graph = build_graph(points, k=10)
    assert 0.9 < graph.projected_variance <= 1.0
    exact = NearestNeighbors(n_neighbors=10).fit(points).kneighbors(return_distance=False)
    found = graph_neighbours(graph, 10)
    recall = [len(set(found[i]) & set(exact[i])) / 10 for i in range(len(points))]
    assert np.mean(np.array(recall) >= 0.9) >= 0.95
    expected = np.linalg.norm(points[graph.rows].astype(np.float64) - points[graph.cols],
                              axis=1)
    np.testing.assert_allclose(graph.weights, expected, rtol=1e-5)


# -- bad input -------------------------------------------------------------------------------

def test_bad_inputs_are_named():
    points, _ = curve_points(20)
    broken = points.copy()
    broken[7, 3] = np.nan
    with pytest.raises(InputError, match="point 7"):
        build_graph(broken)
    with pytest.raises(InputError, match="manhattan"):
        build_graph(points, metric="manhattan")
    with pytest.raises(InputError, match="-k"):
        build_graph(points, k=0)
    graph = build_graph(points, k=5)
    with pytest.raises(InputError, match="different"):
        find_chain(graph, 3, 3, n=2)
    with pytest.raises(InputError, match="node 99"):
        find_chain(graph, 0, 99, n=2)
    with pytest.raises(InputError, match="-n"):
        find_chain(graph, 0, 1, n=-1)
