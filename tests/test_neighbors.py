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


def factor_agreement(base, rows, features):
    """Share of neighbours that share the query's background and colour, over queries
    that are in the store, which must be left out of their own neighbours."""
    same, total = {"background": 0, "colour": 0}, 0
    for q in [f"shape_{i:06d}.png" for i in range(0, 120, 6)]:
        result = neighbors.run(neighbors.NeighborsSpec(
            image=str(base / "img" / q), store=str(base / "s.safetensors"), k=5,
            output=str(base / "sheet.png"), model="shapes", device="cpu", features=features))
        assert result.itself == [q] and q not in [n.path for n in result.neighbors]
        assert len(result.neighbors) == 5
        for n in result.neighbors:
            total += 1
            for factor in same:
                same[factor] += rows[n.path][factor] == rows[q][factor]
    return {factor: count / total for factor, count in same.items()}


def test_pooled_neighbours_share_what_the_query_shows(shapes_store):
    base, rows = shapes_store
    pooled, latent = (factor_agreement(base, rows, f) for f in ("pooled", "latent"))
    for factor in ("background", "colour"):
        values = [r[factor] for r in rows.values()]
        chance = sum((values.count(v) / len(values)) ** 2 for v in set(values))
        assert pooled[factor] >= max(0.8, 1.8 * chance), (factor, pooled, chance)
    # The encoder's features find the query's colour at least as often as the latents do
    # (in which the guided shapes model lays colours out as directions, but beside position
    # and size, which take most of a latent's distances).
    assert pooled["colour"] >= latent["colour"], (pooled, latent)


def test_the_cli_prints_distances_and_writes_a_sheet(shapes_store, tmp_path):
    base, _ = shapes_store
    result = CliRunner().invoke(cli.cli, ["neighbors", str(base / "img" / "shape_000003.png"),
                                          "--store", str(base / "s.safetensors"), "-k", "4",
                                          "-m", "shapes", "-o", str(tmp_path / "nb.png"),
                                          "--device", "cpu"])
    assert result.exit_code == 0, result.output
    listed = result.stdout.splitlines()[:4]
    assert len(listed) == 4 and all("shape_000003.png" not in line for line in listed)
    distances = [float(line.split()[0]) for line in listed]
    assert distances == sorted(distances) and distances[0] > 0
    assert "left out the query itself: shape_000003.png" in result.stderr
    assert Image.open(tmp_path / "nb.png").size[0] > 5 * 128
    assert (tmp_path / "nb.png.latentfx.json").exists()


def test_a_copy_of_a_store_picture_is_left_out_too(shapes_store, tmp_path):
    import shutil

    base, _ = shapes_store
    copy = tmp_path / "elsewhere.png"
    shutil.copy(base / "img" / "shape_000010.png", copy)
    result = neighbors.run(neighbors.NeighborsSpec(
        image=str(copy), store=str(base / "s.safetensors"), k=3,
        output=str(tmp_path / "nb.png"), model="shapes", device="cpu"))
    assert result.itself == ["shape_000010.png"]
    assert "shape_000010.png" not in [n.path for n in result.neighbors]


def test_a_store_of_another_model_is_refused(shapes_store, tmp_path):
    base, _ = shapes_store
    with pytest.raises(InputError, match="made with model"):
        neighbors.run(neighbors.NeighborsSpec(
            image=str(base / "img" / "shape_000003.png"), store=str(base / "s.safetensors"),
            output=str(tmp_path / "nb.png"), model="default", device="cpu"))
