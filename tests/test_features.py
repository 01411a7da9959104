"""What pictures are compared by (latentfx/features/): pooled encoder features kept in latent
stores, queries featurised like store entries, older stores filled in by the next encode,
an open_clip model from a local folder, captions that keep what tells names apart, and maps
coloured by folder."""

import json
import re
import shutil

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import cli
from latentfx.errors import InputError
from latentfx.features.pooled import RECIPE
from latentfx.latents.stores import LatentStore
from pipelines import encode


def invoke(*args):
    return CliRunner().invoke(cli.cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def store(shapes_folder, tiny_spatial_model, tmp_path_factory):
    """The 48 shapes encoded by the tiny spatial model at 32x32."""
    path = tmp_path_factory.mktemp("features") / "s.safetensors"
    encode.run(encode.EncodeSpec(folder=str(shapes_folder), output=str(path), size=(32, 32),
                                 model=str(tiny_spatial_model), device="cpu", workers=0))
    return path


def test_a_store_keeps_pooled_features_and_a_query_lands_on_its_own_entry(
        store, shapes_folder, tiny_spatial_model):
    from latentfx.features.space import feature_space
    from latentfx.models.loading import load_model

    loaded = LatentStore.load(store)
    widths = (8, 16)  # the tiny model's: features are the first stage's mean and spread
    assert loaded.pooled.shape == (48, 2 * widths[0]) and loaded.pooled_recipe == RECIPE
    model, _ = load_model(str(tiny_spatial_model), device="cpu")
    for features in ("pooled", "latent"):
        space = feature_space(loaded, features, model=model)
        entries = [3, 17]
        queries = space.query([shapes_folder / loaded.paths[i] for i in entries])
        # Featurised exactly as encode featurised the entries: each query's nearest is itself.
        found = space.nearest(queries, k=2)
        assert [row[0][0] for row in found] == entries, features
        assert all(row[0][1] < 1e-3 * row[1][1] for row in found), (features, found)


def test_an_older_store_is_named_and_the_next_encode_fills_it_in(store, shapes_folder,
                                                                 tiny_spatial_model, tmp_path):
    old = tmp_path / "old.safetensors"
    loaded = LatentStore.load(store)
    fresh_pooled, fresh_latents = loaded.pooled.clone(), loaded.latents.clone()
    loaded.pooled = loaded.pooled_recipe = None  # as a store from before pooled features
    loaded.save(old)
    query = shapes_folder / "shape_000004.png"
    refused = invoke("neighbors", query, "--store", old, "-o", tmp_path / "nb.png",
                     "-m", tiny_spatial_model, "--device", "cpu")
    assert refused.exit_code == 3
    assert "no pooled features" in refused.output and "latentfx encode" in refused.output
    # The latents still serve, as before.
    latent = invoke("neighbors", query, "--store", old, "-o", tmp_path / "nb.png",
                    "-m", tiny_spatial_model, "--device", "cpu", "--features", "latent")
    assert latent.exit_code == 0, latent.output

    again = invoke("encode", shapes_folder, "-o", old, "--size", "32x32", "-m",
                   tiny_spatial_model, "--device", "cpu", "--workers", 0)
    assert again.exit_code == 0, again.output
    assert "48 encoded" in again.output and "to add them" in again.output
    filled = LatentStore.load(old)
    assert filled.pooled_recipe == RECIPE
    assert torch.allclose(filled.pooled, fresh_pooled, atol=1e-5)
    assert torch.allclose(filled.latents, fresh_latents, atol=1e-5)
    # A store that has them reuses them: nothing is encoded again.
    once_more = invoke("encode", shapes_folder, "-o", old, "--size", "32x32", "-m",
                       tiny_spatial_model, "--device", "cpu", "--workers", 0)
    assert "0 encoded" in once_more.output and "48 unchanged" in once_more.output


def test_features_are_checked_before_anything_loads(store, shapes_folder, tmp_path):
    query = shapes_folder / "shape_000004.png"
    for bad, message in (("pixels", "--features must be"), ("clip:", "--features must be"),
                         (f"clip:{tmp_path / 'nowhere'}", "no such folder")):
        result = invoke("neighbors", query, "--store", store, "-o", tmp_path / "nb.png",
                        "--features", bad)
        assert result.exit_code == 2 and message in result.output, (bad, result.output)


def test_the_graph_cache_keys_on_the_features(tmp_path, monkeypatch):
    from latentfx.graph import cache as graph_cache

    monkeypatch.setenv("LATENTFX_CACHE", str(tmp_path / "cache"))
    x = np.random.default_rng(0).normal(size=(60, 5)).astype(np.float32)
    _, cached = graph_cache.neighbor_graph(x, k=4, metric="euclidean", features="latent")
    assert not cached
    # The very same numbers, said to be other features: another graph, not the kept one.
    _, cached = graph_cache.neighbor_graph(x, k=4, metric="euclidean", features="pooled/1")
    assert not cached
    for features in ("latent", "pooled/1"):
        _, cached = graph_cache.neighbor_graph(x, k=4, metric="euclidean", features=features)
        assert cached, features


# -- captions ---------------------------------------------------------------------------------

def test_sheet_captions_keep_the_part_of_a_name_that_differs():
    from PIL import Image, ImageDraw

    from latentfx.images.contact_sheets import _fitted_captions

    draw = ImageDraw.Draw(Image.new("RGB", (10, 10)))
    names = [f"org.gnome.Settings-{word}-symbolic.symbolic.png"
             for word in ("alarm", "bell", "camera-web")]
    captions = [["query", "short.png"]] + [[f"distance 0.{i}", n] for i, n in enumerate(names)]
    fitted = _fitted_captions(draw, captions, width=96)
    assert fitted[0] == ["query", "short.png"]  # what fits is left alone
    for lines, word in zip(fitted[1:], ("alarm", "bell", "camera-web")):
        assert word in lines[1] and draw.textlength(lines[1]) <= 96, lines
    # A single long line that shares nothing loses its middle, keeping both ends.
    alone = _fitted_captions(draw, [["a-very-long-file-name-from-a-camera-0001.jpg"]], 80)
    line = alone[0][0]
    assert line.startswith("a-ve") and line.endswith(".jpg") and "…" in line


# -- map ----------------------------------------------------------------------------------------

def border_colours(page: str) -> dict:
    return {m.group(1): m.group(2) for m in
            re.finditer(r'<img title="([^"]+)".*?border-color:(#[0-9a-f]{6})', page)}


def test_a_map_colours_folder_labels_by_folder(shapes_folder, tiny_vector_model, tmp_path):
    folder = tmp_path / "kinds"
    for i, name in enumerate(sorted(p.name for p in shapes_folder.glob("*.png"))[:12]):
        (folder / ("abc"[i % 3])).mkdir(parents=True, exist_ok=True)
        shutil.copy(shapes_folder / name, folder / "abc"[i % 3] / name)
    store = tmp_path / "kinds.safetensors"
    made = invoke("encode", folder, "-o", store, "-m", tiny_vector_model, "--device", "cpu",
                  "--folder-labels", "--workers", 0)
    assert made.exit_code == 0, made.output
    drawn = invoke("map", store, "-o", tmp_path / "map.png")
    assert drawn.exit_code == 0, drawn.output
    colours = border_colours((tmp_path / "map.html").read_text())
    assert len(colours) == 12
    by_folder = {}
    for path, colour in colours.items():
        by_folder.setdefault(path.split("/")[0], set()).add(colour)
    assert all(len(c) == 1 for c in by_folder.values()), by_folder
    assert len(set.union(*by_folder.values())) == 3, by_folder
    manifest = json.loads((tmp_path / "map.png.latentfx.json").read_text())
    assert manifest["results"]["features"] == "pooled/1"


# -- open_clip from a local folder --------------------------------------------------------------

TINY_CLIP = {"embed_dim": 16,
             "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16,
                            "patch_size": 8},
             "text_cfg": {"context_length": 8, "vocab_size": 64, "width": 16, "heads": 2,
                          "layers": 1}}


def tiny_clip_folder(folder):
    """A randomly initialised open_clip model in open_clip's local-dir layout."""
    import open_clip
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model = open_clip.CLIP(**TINY_CLIP)
    folder.mkdir()
    save_file({k: v.contiguous() for k, v in model.state_dict().items()},
              str(folder / "open_clip_model.safetensors"))
    (folder / "open_clip_config.json").write_text(json.dumps(
        {"model_cfg": TINY_CLIP, "preprocess_cfg": {"mean": [0.5] * 3, "std": [0.5] * 3}}))
    return folder


def test_neighbours_by_a_local_open_clip_model(store, shapes_folder, tiny_spatial_model,
                                               tmp_path):
    pytest.importorskip("open_clip")
    clip = tiny_clip_folder(tmp_path / "clip")
    query = shapes_folder / "shape_000005.png"
    result = invoke("neighbors", query, "--store", store, "-k", 3, "-o", tmp_path / "nb.png",
                    "-m", tiny_spatial_model, "--device", "cpu", "--features", f"clip:{clip}")
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "nb.png.latentfx.json").read_text())
    found = manifest["results"]["neighbors"]
    assert len(found) == 3 and "shape_000005.png" not in [n["path"] for n in found]
    assert manifest["results"]["features"].startswith("clip/")
    assert manifest["results"]["left_out"] == ["shape_000005.png"]
    # The query's embedding is its store entry's: the entry itself, were it not left out,
    # would be at distance 0.
    from latentfx.features.clip import ClipEmbedder

    embedder = ClipEmbedder(clip, device="cpu")
    both = embedder.embed([query, shapes_folder / "shape_000005.png"])
    assert np.allclose(both[0], both[1]) and np.allclose(np.linalg.norm(both, axis=1), 1)


def write_layout(folder, weights_name="open_clip_model.safetensors", config=None):
    folder.mkdir()
    (folder / weights_name).write_bytes(b"\x80\x04" + b"0" * 64)
    (folder / "open_clip_config.json").write_text(json.dumps(config or {"model_cfg": TINY_CLIP}))
    return folder


def test_pickled_or_downloading_clip_folders_are_refused(tmp_path, monkeypatch):
    from latentfx.features.clip import ClipEmbedder, check_clip_folder

    pickled = write_layout(tmp_path / "pickled", "pytorch_model.bin")
    with pytest.raises(InputError, match="pytorch_model.bin: pickled weights are refused"):
        check_clip_folder(pickled)
    disguised = write_layout(tmp_path / "disguised")
    with pytest.raises(InputError, match="pickled PyTorch checkpoint"):
        check_clip_folder(disguised)
    hub = dict(TINY_CLIP, vision_cfg={"timm_model_name": "vit_tiny_patch16_224",
                                      "timm_model_pretrained": True})
    fetching = tmp_path / "fetching"
    fetching.mkdir()
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(1)}, str(fetching / "open_clip_model.safetensors"))
    (fetching / "open_clip_config.json").write_text(json.dumps({"model_cfg": hub}))
    with pytest.raises(InputError, match="pretrained tower weights from a hub"):
        check_clip_folder(fetching)
    # Without the optional package, the message says how to get it.
    ok = tmp_path / "ok"
    ok.mkdir()
    save_file({"x": torch.zeros(1)}, str(ok / "open_clip_model.safetensors"))
    (ok / "open_clip_config.json").write_text(json.dumps({"model_cfg": TINY_CLIP}))
    monkeypatch.setitem(__import__("sys").modules, "open_clip", None)
    with pytest.raises(InputError, match=r"latentfx\[clip\]"):
        ClipEmbedder(ok, device="cpu")


# -- the farm -----------------------------------------------------------------------------------

def test_the_farm_reads_and_stages_a_clip_folder_like_any_folder_input(tmp_path, store):
    from pipelines.degrees import DegreesSpec
    from workers.paths import input_paths
    from workers.submit import _stage_inputs

    root = tmp_path / "root"
    clip = root / "models" / "clip"
    clip.mkdir(parents=True)
    fields = {"start": str(store), "end": str(store), "pool": str(store), "via": [],
              "folder": str(tmp_path), "features": f"clip:{clip}"}
    assert ("features", str(clip)) in input_paths(DegreesSpec, fields)
    assert all(f != "features" for f, _ in input_paths(DegreesSpec, {**fields,
                                                                     "features": "pooled"}))
    (tmp_path / "jobs" / "inputs").mkdir(parents=True)
    staged = _stage_inputs(DegreesSpec, {**fields, "folder": str(root)}, root, tmp_path / "jobs")
    assert staged["features"] == f"clip:{clip.resolve()}"
    outside = tmp_path / "clip-outside"
    outside.mkdir()
    with pytest.raises(InputError, match="must already be under the farm's storage root"):
        _stage_inputs(DegreesSpec, {**fields, "folder": str(root), "features": f"clip:{outside}"},
                      root, tmp_path / "jobs")
