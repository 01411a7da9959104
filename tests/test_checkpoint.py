import json
import pickle
import struct

import pytest
import torch

from latentfx.errors import CheckpointError
from latentfx.models import ModelConfig, build_model
from latentfx.models.checkpoint import (FORMAT_VERSION, load_checkpoint, read_checkpoint,
                                        save_checkpoint)


@pytest.fixture
def model():
    torch.manual_seed(0)
    return build_model(ModelConfig(family="spatial", widths=(8, 16), blocks=1)).eval()


def test_round_trip_gives_the_same_outputs_and_metadata(model, tmp_path):
    path = tmp_path / "m.safetensors"
    model_id = save_checkpoint(path, model, training={"steps": 7})
    loaded, info = load_checkpoint(path)
    x = torch.rand(1, 3, 20, 28)
    assert torch.equal(loaded.reconstruct(x), model.reconstruct(x))
    assert info.config == model.config
    assert info.metadata["training"] == {"steps": 7}
    assert info.model_id == model_id and len(model_id) == 64


def test_model_id_is_stable_and_changes_with_the_weights(model, tmp_path):
    a = save_checkpoint(tmp_path / "a.safetensors", model)
    b = save_checkpoint(tmp_path / "b.safetensors", model)
    assert a == b  # same weights and metadata, same bytes, same id
    with torch.no_grad():
        next(model.parameters()).add_(1.0)
    assert save_checkpoint(tmp_path / "c.safetensors", model) != a


class Payload:
    """Unpickling this would create a marker file: proof that code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_a_pickled_checkpoint_is_refused_and_its_payload_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    for name, writer in [("zip.pt", lambda p: torch.save({"x": Payload(marker)}, p)),
                         ("raw.pkl", lambda p: p.write_bytes(pickle.dumps(Payload(marker))))]:
        path = tmp_path / name
        writer(path)
        assert not marker.exists()
        with pytest.raises(CheckpointError, match="pickled PyTorch checkpoint"):
            load_checkpoint(path)
        assert not marker.exists()


def test_truncated_file_is_refused(model, tmp_path):
    path = tmp_path / "m.safetensors"
    save_checkpoint(path, model)
    data = path.read_bytes()
    for cut in (len(data) // 2, 100, 5):
        bad = tmp_path / f"cut{cut}.safetensors"
        bad.write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match=str(bad.name)):
            load_checkpoint(bad)


def test_another_projects_safetensors_is_refused(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(3)}, str(path), metadata={"format": "pt"})
    with pytest.raises(CheckpointError, match="not a latentfx checkpoint"):
        load_checkpoint(path)


def test_a_newer_format_version_is_refused(model, tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "future.safetensors"
    metadata = {"latentfx": json.dumps({"format": "latentfx-checkpoint",
                                        "format_version": FORMAT_VERSION + 1,
                                        "config": model.config.to_dict()})}
    save_file({"model.x": torch.zeros(1)}, str(path), metadata=metadata)
    with pytest.raises(CheckpointError, match="newer latentfx"):
        load_checkpoint(path)


@pytest.mark.parametrize("content", [b"", b"hello world, not a model", b"\x00" * 64])
def test_junk_files_are_refused(tmp_path, content):
    path = tmp_path / "junk.safetensors"
    path.write_bytes(content)
    with pytest.raises(CheckpointError):
        load_checkpoint(path)


def test_huge_declared_header_is_refused_without_reading_it(tmp_path):
    path = tmp_path / "huge.safetensors"
    path.write_bytes(struct.pack("<Q", 2 ** 40) + b"{}")
    with pytest.raises(CheckpointError, match="damaged or truncated"):
        read_checkpoint(path)


def test_missing_and_folder_paths_are_clear(tmp_path):
    with pytest.raises(CheckpointError, match="no such model file"):
        load_checkpoint(tmp_path / "nope.safetensors")
    with pytest.raises(CheckpointError, match="is a folder"):
        load_checkpoint(tmp_path)


def test_outputs_are_atomic_and_get_the_usual_permissions(tmp_path):
    import os

    from latentfx.io.atomic import atomic_path

    target = tmp_path / "out.txt"
    target.write_text("good")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("partial")
            raise RuntimeError("crash mid-write")
    assert target.read_text() == "good"  # a good output is never replaced by a partial one
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]  # no temp file left behind
    with atomic_path(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask
