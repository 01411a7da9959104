"""How the `degrees` search (k-NN graph + chain) grows with the pool.

In one run, for each pool size: seconds to build the k-nearest-neighbour graph, seconds to
find a chain of n=8 images between two far-apart points, the total, a second run's total
(the graph read back from the cache, latentfx/graph/cache.py), and the total's growth
relative to the smallest pool next to the growth of the pool itself (exact brute-force k-NN
grows with the square of the pool; the chain search with its edges). Points are generated: a
smooth 4-factor manifold (random Fourier features) mapped into --dim dimensions plus noise,
seeded. Above --max-dim dimensions (default latentfx.graph.neighbor_graph.MAX_SEARCH_DIM) the
neighbours are searched in a PCA projection and re-weighted exactly; --max-dim 100000 times the
exact search at any --dim.

    python benchmarks/degrees.py [--sizes 5000,10000,20000,50000] [--dim 128] [-k 10]
                                 [--max-dim 64]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FACTORS, FEATURES, NOISE = 4, 32, 0.05


def manifold(count: int, dim: int, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(count, dim) float32 points on a smooth manifold plus noise, and the first factor."""
    rng = np.random.default_rng(seed)
    factors = rng.random((count, FACTORS))
    frequencies = rng.normal(scale=2.0, size=(FACTORS, FEATURES))
    phases = rng.uniform(0, 2 * np.pi, FEATURES)
    mixing = rng.normal(size=(FEATURES, dim)) / np.sqrt(FEATURES)
    points = np.sin(factors @ frequencies + phases) @ mixing
    points += NOISE * rng.normal(size=points.shape)
    return points.astype(np.float32), factors[:, 0]


def measure(count: int, dim: int, *, k: int, n: int, max_dim: int, seed: int) -> dict:
    """Times of a first run (graph built, and filed in an empty cache when the search
    settings are latentfx's own) and of a second (graph read back from the cache)."""
    from latentfx.graph import cache as graph_cache
    from latentfx.graph.chain_search import find_chain
    from latentfx.graph.neighbor_graph import MAX_SEARCH_DIM, build_graph

    points, first = manifold(count, dim, seed=seed)
    start, end = int(np.argmin(first)), int(np.argmax(first))
    cacheable = max_dim == MAX_SEARCH_DIM

    def graph() -> object:
        if cacheable:
            return graph_cache.neighbor_graph(points, k=k, metric="euclidean")[0]
        return build_graph(points, k=k, max_dim=max_dim)

    previous = os.environ.get("LATENTFX_CACHE")
    with tempfile.TemporaryDirectory() as cache:
        os.environ["LATENTFX_CACHE"] = cache
        began = time.perf_counter()
        built_graph = graph()
        built = time.perf_counter()
        chain = find_chain(built_graph, start, end, n=n)
        found = time.perf_counter()
        again = float("nan")
        if cacheable:  # a second run on the same pool
            find_chain(graph(), start, end, n=n)
            again = time.perf_counter() - found
    if previous is None:
        os.environ.pop("LATENTFX_CACHE")
    else:
        os.environ["LATENTFX_CACHE"] = previous
    return {"size": count, "build": built - began, "chain": found - built,
            "total": found - began, "again": again, "images": chain.images,
            "ratio": chain.largest_step / chain.direct, "notes": len(chain.notes)}


def main() -> None:
    from latentfx.graph.neighbor_graph import MAX_SEARCH_DIM

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="5000,10000,20000,50000",
                        help="pool sizes, comma-separated")
    parser.add_argument("--dim", type=int, default=128, help="dimensions of each point")
    parser.add_argument("-k", type=int, default=10, help="neighbours per point")
    parser.add_argument("-n", type=int, default=8, help="images asked for between the ends")
    parser.add_argument("--max-dim", type=int, default=MAX_SEARCH_DIM,
                        help="above this many dimensions, search in a PCA projection")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    options = dict(k=args.k, n=args.n, max_dim=args.max_dim, seed=args.seed)

    sizes = [int(s) for s in args.sizes.split(",")]
    search = "exact" if args.dim <= args.max_dim else f"PCA to {args.max_dim} + exact re-rank"
    print(f"dim {args.dim} ({search}), k {args.k}, n {args.n}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'pool':>8} {'graph s':>8} {'chain s':>8} {'total s':>8} {'again s':>8} "
          f"{'growth':>7} {'size x':>7} {'images':>7} {'step/direct':>12}")
    measure(500, args.dim, **options)  # warm-up: imports, thread pools
    base = None
    for size in sizes:
        r = measure(size, args.dim, **options)
        base = base or r
        print(f"{r['size']:>8,} {r['build']:>8.2f} {r['chain']:>8.3f} {r['total']:>8.2f} "
              f"{r['again']:>8.2f} {r['total'] / base['total']:>7.1f} {r['size'] / base['size']:>7.1f} "
              f"{r['images']:>7}{'*' if r['notes'] else ' '} {r['ratio']:>11.3f}", flush=True)
    print("again: a second run on the same pool, its graph read from the cache (graph_cache)")
    print("growth: total time relative to the smallest pool; size x: pool size relative to it")
    print("step/direct: the chain's largest step over the direct jump between its ends")
    print("* more images than asked: no chain with fewer steps exists in the k-NN graph")

if __name__ == "__main__":
    main()
