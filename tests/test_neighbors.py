"""`latentfx neighbors` on the bundled shapes model, where every image's factors are known."""

import pytest
from click.testing import CliRunner
from PIL import Image

import cli
from conftest import labelled_shapes_store
from latentfx.errors import InputError
from pipelines import neighbors


@pytest.fixture(scope="module")
def shapes_store(tmp_path_factory):
    base = tmp_path_factory.mktemp("nb")
    return base, {r["path"]: r for r in labelled_shapes_store(base, 120, seed=7)}


def test_neighbours_share_the_query_s_factors(shapes_store):
    base, rows = shapes_store
    same = {"background": 0, "colour": 0}
    queries = [f"shape_{i:06d}.png" for i in range(0, 120, 4)]
    for q in queries:
        result = neighbors.run(neighbors.NeighborsSpec(
            image=str(base / "img" / q), store=str(base / "s.safetensors"), k=6,
            output=str(base / "sheet.png"), model="shapes", device="cpu"))
        assert result.neighbors[0].path == q and result.neighbors[0].distance < 1e-3
        for n in result.neighbors[1:]:
            for factor in same:
                same[factor] += rows[n.path][factor] == rows[q][factor]
    total = 5 * len(queries)
    for factor, floor in (("background", 0.9), ("colour", 0.0)):
        values = [r[factor] for r in rows.values()]
        chance = sum((values.count(v) / len(values)) ** 2 for v in set(values))
        assert same[factor] / total >= max(floor, 1.8 * chance), (factor, same, chance)


def test_the_cli_prints_distances_and_writes_a_sheet(shapes_store, tmp_path):
    base, _ = shapes_store
    result = CliRunner().invoke(cli.cli, ["neighbors", str(base / "img" / "shape_000003.png"),
                                          "--store", str(base / "s.safetensors"), "-k", "4",
                                          "-m", "shapes", "-o", str(tmp_path / "nb.png"),
                                          "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].split() == ["0.0000", "shape_000003.png"]
    assert Image.open(tmp_path / "nb.png").size[0] > 5 * 128
    assert (tmp_path / "nb.png.latentfx.json").exists()


def test_a_store_of_another_model_is_refused(shapes_store, tmp_path):
    base, _ = shapes_store
    with pytest.raises(InputError, match="made with model"):
        neighbors.run(neighbors.NeighborsSpec(
            image=str(base / "img" / "shape_000003.png"), store=str(base / "s.safetensors"),
            output=str(tmp_path / "nb.png"), model="default", device="cpu"))
