"""Neighbour graphs kept between `degrees` runs: a hit is the very graph a build gives, and
anything that changes the graph misses."""

import os

import numpy as np
import pytest

from latentfx.graph import cache as graph_cache
from latentfx.graph.chain_search import find_chain
from latentfx.graph.neighbor_graph import build_graph


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENTFX_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "graphs"


def points(seed=0, n=300, d=6):
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)


def no_building(monkeypatch):
    def refuse(*_, **__):
        raise AssertionError("built the graph instead of reading it")
    monkeypatch.setattr(graph_cache, "build_graph", refuse)


def same_graph(a, b):
    for name in ("rows", "cols", "weights", "groups", "points"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert (a.k, a.metric, a.duplicate_distance, a.projected_variance) == \
        (b.k, b.metric, b.duplicate_distance, b.projected_variance)


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_a_second_run_reads_the_graph_a_build_gives(cache, monkeypatch, metric):
    x = points().astype(np.float64)  # prepared (float32, normalised for cosine) once only
    first, cached = graph_cache.neighbor_graph(x, k=6, metric=metric)
    assert not cached and len(list(cache.iterdir())) == 1
    same_graph(first, build_graph(x, k=6, metric=metric))
    no_building(monkeypatch)
    again, cached = graph_cache.neighbor_graph(x.copy(), k=6, metric=metric)
    assert cached
    same_graph(again, first)
    assert find_chain(again, 0, 1, n=5).nodes == find_chain(first, 0, 1, n=5).nodes


@pytest.mark.parametrize("change", ["k", "metric", "points"])
def test_anything_that_changes_the_graph_misses(cache, change):
    x = points()
    graph_cache.neighbor_graph(x, k=6, metric="euclidean")
    if change == "points":
        x = x.copy()
        x[7, 2] += 1e-3
    graph, cached = graph_cache.neighbor_graph(x, k=7 if change == "k" else 6,
                                               metric="cosine" if change == "metric"
                                               else "euclidean")
    assert not cached and len(list(cache.iterdir())) == 2


def test_a_damaged_cache_file_is_built_again_and_replaced(cache, monkeypatch):
    x = points()
    graph_cache.neighbor_graph(x, k=6, metric="euclidean")
    (path,) = cache.iterdir()
    path.write_bytes(path.read_bytes()[:100])
    graph, cached = graph_cache.neighbor_graph(x, k=6, metric="euclidean")
    assert not cached
    same_graph(graph, build_graph(x, k=6))
    no_building(monkeypatch)
    assert graph_cache.neighbor_graph(x, k=6, metric="euclidean")[1]


def test_only_the_most_recently_used_graphs_are_kept(cache, monkeypatch):
    monkeypatch.setattr(graph_cache, "KEEP", 2)
    for seed, when in ((1, 100), (2, 200), (3, 300)):
        graph_cache.neighbor_graph(points(seed), k=5, metric="euclidean")
        newest = max(cache.iterdir(), key=lambda p: p.stat().st_mtime_ns)
        os.utime(newest, (when, when))
    assert len(list(cache.iterdir())) == 2
    assert not graph_cache.neighbor_graph(points(1), k=5, metric="euclidean")[1]  # evicted
    assert graph_cache.neighbor_graph(points(3), k=5, metric="euclidean")[1]


def test_a_cache_that_cannot_be_written_only_costs_time(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("LATENTFX_CACHE", str(blocker))
    x = points()
    for _ in range(2):
        graph, cached = graph_cache.neighbor_graph(x, k=6, metric="euclidean")
        assert not cached
    same_graph(graph, build_graph(x, k=6))


def test_no_home_folder_means_no_cache_not_a_failure(monkeypatch):
    from pathlib import Path

    for name in ("LATENTFX_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)

    def homeless():
        raise RuntimeError("Could not determine home directory.")
    monkeypatch.setattr(Path, "home", staticmethod(homeless))
    graph, cached = graph_cache.neighbor_graph(points(), k=6, metric="euclidean")
    assert not cached and graph.size == 300
