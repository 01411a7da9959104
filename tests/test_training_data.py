"""The streamed training data: order, shards, resume position, fingerprint, bad files."""

import io

import pytest
import torch
from PIL import Image

from conftest import tiny_train_spec
from latentfx.models.checkpoint import load_checkpoint, read_checkpoint
from latentfx.training.data import StepBatches, TrainingImages, scan_training_files
from pipelines import train


def take(sampler, steps):
    stream = iter(sampler)
    return [next(stream) for _ in range(steps)]


def test_the_order_depends_only_on_seed_epoch_and_files_and_resumes_mid_epoch():
    full = take(StepBatches(10, batch=4, seed=1, start_step=0), 6)
    assert take(StepBatches(10, batch=4, seed=1, start_step=0), 6) == full
    assert take(StepBatches(10, batch=4, seed=2, start_step=0), 6) != full
    # Step 3 starts at flat position 12: epoch 1, position 2 - mid-epoch.
    assert take(StepBatches(10, batch=4, seed=1, start_step=3), 3) == full[3:]
    flats = [flat for batch in full for flat, _ in batch]
    assert flats == list(range(24))
    for epoch in (0, 1):  # every epoch shows every image once
        assert sorted(i for batch in full for f, i in batch if f // 10 == epoch) == list(range(10))


def test_ranks_share_each_global_batch_exactly():
    whole = take(StepBatches(13, batch=6, seed=0, start_step=2), 4)
    shares = [take(StepBatches(13, batch=6, seed=0, start_step=2, rank=r, world=3), 4)
              for r in range(3)]
    for step, batch in enumerate(whole):
        assert [item for share in shares for item in share[step]] == batch


def test_worker_processes_give_the_same_run(shapes_folder, tmp_path):
    here = train.run(tiny_train_spec(shapes_folder, tmp_path / "a.safetensors", steps=6,
                                     fit="random-crop", augment="strong", workers=0))
    spread = train.run(tiny_train_spec(shapes_folder, tmp_path / "b.safetensors", steps=6,
                                       fit="random-crop", augment="strong", workers=2))
    a, b = (load_checkpoint(r.output)[0].state_dict() for r in (here, spread))
    assert all(torch.equal(a[k], b[k]) for k in a)
    saved = read_checkpoint(spread.run_dir / "checkpoint.safetensors").metadata["training"]
    assert saved["data_position"] == {"epoch": 1, "position": 0}  # 6 steps x 8 of 48 images


def png_bytes(colour, **save):
    buffer = io.BytesIO()
    Image.new("RGB", (20, 20), colour).save(buffer, format="PNG", **save)
    return buffer.getvalue()


def test_fingerprint_reads_names_sizes_and_bytes(tmp_path):
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "a.png").write_bytes(png_bytes((10, 20, 30)))
    (folder / "b.png").write_bytes(png_bytes((200, 20, 30)))
    first = scan_training_files(folder).fingerprint
    assert scan_training_files(folder).fingerprint == first
    (folder / "b.png").write_bytes(png_bytes((200, 20, 30), compress_level=0))  # same pixels
    assert scan_training_files(folder).fingerprint != first
    (folder / "b.png").write_bytes(png_bytes((200, 20, 30)))
    assert scan_training_files(folder).fingerprint == first
    (folder / "b.png").rename(folder / "c.png")
    assert scan_training_files(folder).fingerprint != first


def test_a_file_that_fails_to_decode_is_replaced_by_the_next_and_listed(tmp_path):
    folder = tmp_path / "f"
    folder.mkdir()
    for i in range(3):
        Image.effect_noise((64, 64), 40 + 20 * i).convert("RGB").save(folder / f"{i}.png")
    whole = (folder / "1.png").read_bytes()
    (folder / "1.png").write_bytes(whole[: len(whole) // 2])  # the header still reads
    files = scan_training_files(folder)
    assert files.names == ["0.png", "1.png", "2.png"]  # found only when decoded
    data = TrainingImages(files, size=16, fit="center-crop", mode="none", seed=0)
    x, _, bad = data[(5, 1)]
    assert torch.equal(x, data[(5, 2)][0])  # the substitute is the next file, always
    assert [name for name, _ in bad] == ["1.png"] and "decode" in bad[0][1]

    result = train.run(tiny_train_spec(folder, tmp_path / "m.safetensors", size=16,
                                       widths=(8,), steps=3, batch=3, save_every=100))
    listed = (result.run_dir / "skipped.txt").read_text()
    assert "1.png\tcannot decode" in listed
    assert [s.path.rsplit("/", 1)[-1] for s in result.skipped] == ["1.png"]


def test_negative_workers_are_refused(shapes_folder, tmp_path):
    from latentfx.errors import InputError

    with pytest.raises(InputError, match="--workers"):
        train.run(tiny_train_spec(shapes_folder, tmp_path / "m.safetensors", workers=-1))
