"""Shared fixtures: tiny models trained in seconds on generated images."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory):
    """Caches (latentfx/graph/cache.py) go to a folder of the test run's own, inherited by
    the workers it starts: never the user's."""
    import os

    previous = os.environ.get("LATENTFX_CACHE")
    os.environ["LATENTFX_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if previous is None:
        del os.environ["LATENTFX_CACHE"]
    else:
        os.environ["LATENTFX_CACHE"] = previous


def tiny_train_spec(folder, output, **overrides):
    from pipelines.train import TrainSpec

    settings = dict(folder=str(folder), output=str(output), family="vector", size=32,
                    latent="8", widths=(8, 16), blocks=1, batch=8, steps=20, lr=1e-2,
                    beta=1e-3, kl_warmup=5, seed=0, save_every=5, device="cpu",
                    workers=0)
    settings.update(overrides)
    return TrainSpec(**settings)


def labelled_shapes_store(base: Path, count: int, *, seed: int) -> list[dict]:
    """`count` generated shapes (64 px) under base/img, with their labels, encoded by the
    bundled shapes model into base/s.safetensors. -> the label rows."""
    import csv

    from latentfx.datasets.shapes import write_dataset
    from pipelines import encode

    write_dataset(base / "img", count, seed=seed, size=64)
    encode.run(encode.EncodeSpec(folder=str(base / "img"), output=str(base / "s.safetensors"),
                                 model="shapes", device="cpu", workers=0,
                                 labels=str(base / "img" / "labels.csv")))
    with open(base / "img" / "labels.csv", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="session")
def shapes_folder(tmp_path_factory) -> Path:
    from latentfx.datasets.shapes import write_dataset

    folder = tmp_path_factory.mktemp("shapes")
    write_dataset(folder, 48, seed=1, size=32)
    return folder


@pytest.fixture(scope="session")
def tiny_vector_model(shapes_folder, tmp_path_factory) -> Path:
    """A vector model trained for a few seconds: good enough to exercise every command."""
    from pipelines import train

    out = tmp_path_factory.mktemp("models") / "tiny-vector.safetensors"
    train.run(tiny_train_spec(shapes_folder, out, steps=60, save_every=60))
    return out


@pytest.fixture(scope="session")
def tiny_spatial_model(shapes_folder, tmp_path_factory) -> Path:
    from pipelines import train

    out = tmp_path_factory.mktemp("models") / "tiny-spatial.safetensors"
    train.run(tiny_train_spec(shapes_folder, out, family="spatial", latent="4:4", steps=60,
                              save_every=60, fit="random-crop"))
    return out
