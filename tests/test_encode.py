"""`latentfx encode`: latent stores, incremental re-encoding, labels, bad files."""

import shutil

import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import cli
from latentfx.errors import InputError
from latentfx.latents.stores import LatentStore
from pipelines import encode


def invoke(*args):
    return CliRunner().invoke(cli.cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def folder(shapes_folder, tmp_path):
    copy = tmp_path / "images"
    shutil.copytree(shapes_folder, copy)
    return copy


def run(folder, output, model, **options):
    return encode.run(encode.EncodeSpec(folder=str(folder), output=str(output), model=str(model),
                                        device="cpu", workers=0, **options))


def test_a_store_holds_one_posterior_mean_per_image_with_labels(folder, tiny_vector_model,
                                                                 tmp_path):
    from latentfx.images.loading import image_to_tensor, load_image
    from latentfx.models.loading import load_model

    (folder / "broken.png").write_bytes(b"not an image")
    result = invoke("encode", folder, "-o", tmp_path / "s.safetensors", "-m", tiny_vector_model,
                    "--device", "cpu", "--labels", folder / "labels.csv", "--workers", 1)
    assert result.exit_code == 0, result.output
    assert "48 latents" in result.output and "broken.png" in result.output
    store = LatentStore.load(tmp_path / "s.safetensors")
    assert len(store) == 48 and store.latents.shape == (48, 8)
    assert store.paths[0] == "shape_000000.png" and store.skipped[0]["path"].endswith("broken.png")
    assert "colour_red" in store.attributes and store.labels.shape == (48, len(store.attributes))
    model, info = load_model(str(tiny_vector_model), device="cpu")
    assert store.model_id == info.model_id
    x = image_to_tensor(load_image(folder / store.paths[5]))[None]
    assert torch.allclose(store.latents[5], model.encode(x).mode()[0], atol=1e-5)


def test_re_encoding_touches_only_what_changed(folder, tiny_vector_model, tmp_path):
    out = tmp_path / "s.safetensors"
    first = run(folder, out, tiny_vector_model)
    assert (first.encoded, first.reused, first.dropped) == (48, 0, 0)
    before = LatentStore.load(out)
    (folder / "shape_000003.png").unlink()
    Image.new("RGB", (32, 32), (255, 0, 0)).save(folder / "shape_000004.png")  # changed
    Image.new("RGB", (32, 32), (0, 0, 255)).save(folder / "new.png")           # added
    second = run(folder, out, tiny_vector_model)
    assert (second.encoded, second.reused, second.count) == (2, 46, 48)
    assert second.dropped == 2  # the deleted file and the old version of the changed one
    after = LatentStore.load(out)
    i, j = before.index("shape_000007.png"), after.index("shape_000007.png")
    assert torch.equal(before.latents[i], after.latents[j])
    assert not torch.equal(before.latents[before.index("shape_000004.png")],
                           after.latents[after.index("shape_000004.png")])


def test_a_store_survives_moving_its_folder_and_refuses_another_model(folder, tiny_vector_model,
                                                                      tiny_spatial_model,
                                                                      tmp_path):
    out = tmp_path / "s.safetensors"
    run(folder, out, tiny_vector_model)
    moved = tmp_path / "moved"
    folder.rename(moved)
    again = run(moved, out, tiny_vector_model)
    assert again.encoded == 0 and again.reused == 48  # relative paths, same hashes
    from latentfx.io.safetensors_files import file_sha256

    with pytest.raises(InputError, match="made with model"):
        LatentStore.load(out).require_model(file_sha256(tiny_spatial_model), store_path=out)


def test_labels_from_sub_folders(tmp_path, tiny_vector_model):
    for name, colour in (("red", (255, 0, 0)), ("blue", (0, 0, 255))):
        (tmp_path / "img" / name).mkdir(parents=True)
        for k in range(3):
            Image.new("RGB", (32, 32), colour).save(tmp_path / "img" / name / f"{k}.png")
    run(tmp_path / "img", tmp_path / "s.safetensors", tiny_vector_model, folder_labels=True)
    store = LatentStore.load(tmp_path / "s.safetensors")
    assert store.attributes == ["blue", "red"]
    assert store.labels[:, 0].tolist() == [1, 1, 1, 0, 0, 0]


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_bytes(b""), "not a safetensors file"),
    (lambda p: p.write_bytes(b"\x80\x04junk-pickle"), "pickled"),
])
def test_a_bad_store_file_is_named(tmp_path, make, message):
    make(tmp_path / "s.safetensors")
    with pytest.raises(InputError, match=message):
        LatentStore.load(tmp_path / "s.safetensors")


def test_store_entries_are_walk_keyframes(folder, tiny_vector_model, tiny_spatial_model,
                                          tmp_path):
    from latentfx.video.reader import read_frames
    from pipelines import walk

    store = tmp_path / "s.safetensors"
    run(folder, store, tiny_vector_model)

    def frames(keys, name, model=tiny_vector_model):
        walk.run(walk.WalkSpec(keyframes=keys, output=f"{tmp_path}/{name}/", frames=3,
                               model=str(model), device="cpu"))
        return read_frames(tmp_path / name / "%05d.png")

    from_store = frames([f"{store}:shape_000002.png", f"{store}:shape_000009.png"], "a")
    from_files = frames([str(folder / "shape_000002.png"), str(folder / "shape_000009.png")], "b")
    assert (abs(from_store.astype(int) - from_files).max()) <= 1
    with pytest.raises(InputError, match="not in this store"):
        frames([f"{store}:nope.png", "seed:1"], "c")
    with pytest.raises(InputError, match="its store was made with model"):
        frames([f"{store}:shape_000002.png", "seed:1"], "d", model=tiny_spatial_model)


def test_folder_encoding_reuses_a_previous_store_only_if_made_the_same_way(
        folder, tiny_vector_model, tiny_spatial_model):
    from latentfx.latents.encoding import DEFAULT_SIZE, encode_folder, store_size
    from latentfx.models.loading import load_model

    spatial, _ = load_model(str(tiny_spatial_model), device="cpu")
    assert store_size(spatial) == DEFAULT_SIZE and store_size(spatial, (48, 24)) == (48, 24)
    model, info = load_model(str(tiny_vector_model), device="cpu")
    size = store_size(model, (48, 24))
    assert size == (32, 32)  # a vector model encodes at its own size

    def encode(**options):
        return encode_folder(model, folder, model_id=info.model_id, size=size, workers=0,
                             **options)

    first = encode()
    assert (first.found, first.encoded, first.reused) == (48, 48, 0)
    latents = first.store.latents.clone()
    again = encode(previous=first.store)
    assert (again.encoded, again.reused, again.dropped) == (0, 48, 0)
    assert torch.equal(again.store.latents, latents)
    assert first.store.latents is None  # let go of once used: one copy in memory
    padded = encode(fit="pad", previous=again.store)
    assert (padded.encoded, padded.reused) == (48, 0)
