"""Whether `neighbors` and `degrees` find pictures that show the same thing, by the labels of
a generator whose every picture's factors are known.

For each labelled generator (benchmarks/labelled_data.py: shapes, glyphs of real typefaces),
n pictures are drawn, written as PNG files and encoded into a latent store by the function
`latentfx encode` uses; then, for each `--features` choice (latent, pooled and, given
--clip DIR, clip:DIR), the store becomes points by the function `neighbors`, `degrees` and
`map` use (latentfx/features/space.py), and:
  top-1   the share of store pictures whose nearest neighbour (the picture itself left out,
          as `neighbors` leaves a query out) has the same label in every group
          (shapes: kind, colour and background; glyphs: character, weight, slant, serif);
  top-5   the share of the 5 nearest neighbours with the same label in every group;
  groups  top-1 per label group;
  chains  for --pairs seeded pairs of pictures with different labels, the chain `degrees`
          finds between them (its k-nearest-neighbour graph, from the cache module it uses,
          and its chain search, with -k and -n as `degrees` defaults them): the largest
          step as a share of the direct jump (mean and worst over the pairs; target <= 0.5),
          and the share of the chain's inner pictures whose label lies between the ends'
          (in every group, the class of one end or the other), beside that share among all
          pictures of the store (what a chain of random pictures would give).
Target: top-1 >= 0.8 on shapes with the bundled default (spatial) model.

    python benchmarks/similarity.py [--model default] [--datasets shapes,glyphs] [--n 600]
        [--seed 100] [--pairs 40] [--clip DIR]

Two to four minutes on 2 CPU cores at the defaults (most of it encoding 1,200 pictures with
the default model, at 128x128); a vector model's run takes one to two. The last lines are a
markdown table for the README.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

TARGET_TOP1, TARGET_STEP = 0.8, 0.5
CHAIN_K, CHAIN_IMAGES = 10, 8  # degrees' -k and -n defaults


@dataclass
class Row:
    dataset: str
    features: str
    top1: float
    top5: float
    groups: dict
    step_mean: float
    step_worst: float
    between: float
    between_chance: float
    chains: int  # pairs joined (the others lay on separate islands of the graph)


def labelled_store(model, model_id: str, dataset, *, n: int, seed: int, folder: Path):
    """(store, {group: (n,) class ids in store order}): n pictures of the generator written
    to `folder` and encoded as `latentfx encode` encodes a folder."""
    from labelled_data import class_ids

    from latentfx.latents.encoding import encode_folder, store_size

    pictures, rows = dataset.draw(n, seed, 64)
    names = [f"item_{i:05d}.png" for i in range(n)]
    for picture, name in zip(pictures, names):
        picture.save(folder / name)
    store = encode_folder(model, folder, model_id=model_id, size=store_size(model),
                          workers=0).store
    order = [names.index(p) for p in store.paths]
    labels = {g: class_ids([rows[i] for i in order], dataset.groups[g]).numpy()
              for g in dataset.groups}
    return store, labels


def neighbour_agreement(space, labels: dict) -> tuple[float, float, dict]:
    """(top-1, top-5, {group: top-1}) with each picture left out of its own neighbours."""
    count = len(space.points)
    found = space.nearest(space.points, k=5, leave_out=[{i} for i in range(count)])
    nearest = np.array([[i for i, _ in row] for row in found])          # (n, 5)
    same = {g: ids[nearest] == ids[:, None] for g, ids in labels.items()}
    every = np.logical_and.reduce(list(same.values()))
    return float(every[:, 0].mean()), float(every.mean()), \
        {g: float(s[:, 0].mean()) for g, s in same.items()}


def chain_measures(space, labels: dict, *, pairs: int, seed: int):
    """(mean and worst largest step / direct jump, share of inner chain pictures with labels
    between the ends', that share over the whole store, chains found)."""
    from latentfx.graph.cache import neighbor_graph
    from latentfx.graph.chain_search import DisconnectedPool, find_chain

    graph, _ = neighbor_graph(space.points, k=CHAIN_K, metric="euclidean", features=space.key)
    ids = np.stack(list(labels.values()), axis=1)                           # (n, groups)
    rng = np.random.default_rng(seed)
    ratios, between, chance = [], [], []
    while len(ratios) < pairs and len(chance) < 20 * pairs:
        a, b = (int(i) for i in rng.choice(len(ids), size=2, replace=False))
        if (ids[a] == ids[b]).all():
            continue
        inside = ((ids == ids[a]) | (ids == ids[b])).all(axis=1)
        chance.append(float(inside.mean()))
        try:
            chain = find_chain(graph, a, b, n=CHAIN_IMAGES)
        except DisconnectedPool:
            continue
        ratios.append(chain.largest_step / chain.direct)
        if len(chain.nodes) > 2:  # a chain of the two ends alone has nothing between them
            between.append(float(inside[list(chain.nodes[1:-1])].mean()))
    return (float(np.mean(ratios)), float(np.max(ratios)), float(np.mean(between)),
            float(np.mean(chance)), len(ratios))


def measure(model, model_id: str, name: str, args) -> list[Row]:
    from labelled_data import labelled_dataset

    from latentfx.features.space import feature_space

    dataset = labelled_dataset(name)
    choices = ["latent", "pooled"] + ([f"clip:{args.clip}"] if args.clip else [])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        store, labels = labelled_store(model, model_id, dataset, n=args.n, seed=args.seed,
                                       folder=Path(tmp))
        for features in choices:
            space = feature_space(store, features, model=model, folder=tmp, device="cpu")
            top1, top5, groups = neighbour_agreement(space, labels)
            chains = chain_measures(space, labels, pairs=args.pairs, seed=args.seed)
            rows.append(Row(name, features.split(":")[0], top1, top5, groups, *chains))
            print(f"{name:7s} {rows[-1].features:7s} top-1 {top1:.2f}  top-5 {top5:.2f}  "
                  f"groups {' '.join(f'{g} {v:.2f}' for g, v in groups.items())}  "
                  f"largest step {chains[0]:.2f} (worst {chains[1]:.2f})  "
                  f"between {chains[2]:.2f} (store {chains[3]:.2f}, {chains[4]} chains)",
                  flush=True)
    return rows


def table(rows: list[Row], model: str) -> list[str]:
    lines = ["| model | data | features | top-1 | top-5 | top-1 per group | largest step / "
             "direct (worst) | chain labels between the ends (all pictures) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        groups = ", ".join(f"{g} {v:.2f}" for g, v in r.groups.items())
        lines.append(f"| {model} | {r.dataset} | {r.features} | {r.top1:.2f} | {r.top5:.2f} | "
                     f"{groups} | {r.step_mean:.2f} ({r.step_worst:.2f}) | {r.between:.2f} "
                     f"({r.between_chance:.2f}) |")
    return lines


def verdicts(rows: list[Row], model: str) -> list[str]:
    """The targets, on the default features for shapes (the issue's targets)."""
    from latentfx.options import DEFAULT_FEATURES

    out = []
    for r in rows:
        if r.dataset == "shapes" and r.features == DEFAULT_FEATURES:
            top1 = "PASS" if r.top1 >= TARGET_TOP1 else "FAIL"
            step = "PASS" if r.step_mean <= TARGET_STEP else "FAIL"
            out.append(f"{model} shapes {r.features}: top-1 {r.top1:.2f} (target >= "
                       f"{TARGET_TOP1}) {top1}; largest step {r.step_mean:.2f} of the direct "
                       f"jump (target <= {TARGET_STEP}) {step}")
    return out


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default", help="A model file or bundled name.")
    parser.add_argument("--datasets", default="shapes,glyphs",
                        help="Labelled generators, comma-separated (benchmarks/labelled_data.py).")
    parser.add_argument("--n", type=int, default=600, help="Pictures per generator.")
    parser.add_argument("--seed", type=int, default=100, help="Seeds the pictures and pairs.")
    parser.add_argument("--pairs", type=int, default=40, help="Chains measured per features.")
    parser.add_argument("--clip", default=None, metavar="DIR",
                        help="An open_clip model folder: measure clip:DIR too.")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    import torch

    from latentfx.models.loading import load_model

    args = parse_args(argv)
    torch.manual_seed(0)
    started = time.perf_counter()
    model, info = load_model(args.model, device="cpu")
    print(f"model {args.model} ({info.model_id[:16]}), n {args.n}, seed {args.seed}, "
          f"{args.pairs} chains of -n {CHAIN_IMAGES} on a -k {CHAIN_K} graph")
    rows = [row for name in args.datasets.split(",") for row in
            measure(model, info.model_id, name.strip(), args)]
    print(f"({time.perf_counter() - started:.0f} s)")
    print("\n".join(verdicts(rows, args.model)))
    print("\n".join(table(rows, args.model)))


if __name__ == "__main__":
    main()
