import pytest
import torch
from PIL import Image

from conftest import tiny_train_spec
from latentfx.errors import InputError
from latentfx.models.checkpoint import load_checkpoint, read_checkpoint
from pipelines import train


def weights(path):
    model, _ = load_checkpoint(path)
    return model.state_dict()


def same_weights(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


def test_training_lowers_the_loss_and_fills_the_run_folder(shapes_folder, tmp_path):
    out = tmp_path / "m.safetensors"
    result = train.run(tiny_train_spec(shapes_folder, out, steps=40, save_every=20))
    history = read_checkpoint(result.run_dir / "checkpoint.safetensors").metadata["training"]["state"]["history"]
    first, last = history[0][2], history[-1][2]  # reconstruction MSE
    assert last < 0.6 * first
    for name in ("checkpoint.safetensors", "samples.png", "reconstructions.png", "loss.png"):
        assert (result.run_dir / name).stat().st_size > 0
    assert Image.open(result.run_dir / "loss.png").size[0] > 100
    assert out.exists() and result.steps == 40 and result.images == 48


def test_same_seed_same_weights_other_seed_other_weights(shapes_folder, tmp_path):
    paths = {}
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        paths[name] = tmp_path / f"{name}.safetensors"
        train.run(tiny_train_spec(shapes_folder, paths[name], seed=seed, steps=8))
    assert same_weights(weights(paths["a"]), weights(paths["b"]))
    assert not same_weights(weights(paths["a"]), weights(paths["c"]))


@pytest.mark.parametrize("family, fit", [("vector", "center-crop"), ("spatial", "random-crop")])
def test_interrupted_then_resumed_equals_uninterrupted(shapes_folder, tmp_path, family, fit):
    kw = dict(steps=14, save_every=4, family=family, fit=fit,
              latent="8" if family == "vector" else "4:4", augment="strong")
    straight = tmp_path / "straight.safetensors"
    train.run(tiny_train_spec(shapes_folder, straight, **kw))

    resumed = tmp_path / "resumed.safetensors"

    def ctrl_c_at_step_7(done, total, message):
        if message.startswith("loss") and done == 7:
            raise KeyboardInterrupt

    with pytest.raises(train.TrainingInterrupted, match="--resume"):
        train.run(tiny_train_spec(shapes_folder, resumed, **kw), progress=ctrl_c_at_step_7)
    saved = read_checkpoint(tmp_path / "resumed.run" / "checkpoint.safetensors")
    assert saved.metadata["training"]["steps"] == 7
    result = train.run(tiny_train_spec(shapes_folder, resumed, resume=True, **kw))
    assert result.resumed_from == 7 and result.steps == 14
    assert same_weights(weights(straight), weights(resumed))


def test_cancel_saves_a_resumable_checkpoint(shapes_folder, tmp_path):
    calls = {"n": 0}

    def cancel():
        calls["n"] += 1
        return calls["n"] > 3

    with pytest.raises(train.TrainingInterrupted, match="cancelled at step 3"):
        train.run(tiny_train_spec(shapes_folder, tmp_path / "m.safetensors"), cancel=cancel)
    assert (tmp_path / "m.run" / "checkpoint.safetensors").exists()


def test_bad_files_are_skipped_counted_and_listed(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(4):
        Image.new("RGB", (40, 30), (60 * i, 20, 200)).save(folder / f"ok{i}.png")
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "text.png").write_text("nope")
    result = train.run(tiny_train_spec(folder, tmp_path / "m.safetensors", steps=2))
    assert result.images == 4
    assert sorted(p.path.rsplit("/", 1)[-1] for p in result.skipped) == ["empty.jpg", "text.png"]
    listed = (result.run_dir / "skipped.txt").read_text()
    assert "empty.jpg\tempty file" in listed and "text.png\tnot a readable image" in listed


def test_resume_rules(shapes_folder, tmp_path):
    out = tmp_path / "m.safetensors"
    with pytest.raises(InputError, match="no checkpoint"):
        train.run(tiny_train_spec(shapes_folder, out, resume=True))
    train.run(tiny_train_spec(shapes_folder, out, steps=2))
    with pytest.raises(InputError, match="already holds a run"):
        train.run(tiny_train_spec(shapes_folder, out, steps=2))
    other = tmp_path / "other"
    other.mkdir()
    Image.new("RGB", (32, 32)).save(other / "x.png")
    with pytest.raises(InputError, match="differ from the ones this run started with"):
        train.run(tiny_train_spec(other, out, resume=True, steps=4))
    extended = train.run(tiny_train_spec(shapes_folder, out, resume=True, steps=4))
    assert extended.steps == 4 and extended.resumed_from == 2


@pytest.mark.parametrize("overrides, message", [
    (dict(family="spatial", latent="4:3"), "factor must be 2, 4, 8"),
    (dict(family="vector", size=33), "multiple of 4"),
    (dict(steps=0), "must be positive"),
    (dict(steps=5, epochs=1.0), "not both"),
    (dict(batch=0), "--batch must be positive"),
    (dict(family="spatial", latent="4:8", widths=(8, 16)), "needs 3 widths"),
    (dict(family="spatial", latent="4:4", size=30), "multiple of the factor 4"),
    (dict(size=0), "--size must be at least 8"),
])
def test_bad_settings_are_named(shapes_folder, tmp_path, overrides, message):
    with pytest.raises(InputError, match=message):
        train.run(tiny_train_spec(shapes_folder, tmp_path / "m.safetensors", **overrides))


def test_empty_folder_is_refused(tmp_path):
    with pytest.raises(InputError, match="no usable images"):
        train.run(tiny_train_spec(tmp_path, tmp_path / "m.safetensors"))


def test_a_real_ctrl_c_saves_a_checkpoint_that_resumes(shapes_folder, tmp_path):
    """SIGINT to a real `latentfx train` process: exit 130, a checkpoint, then --resume."""
    import os
    import shlex
    import signal
    import subprocess
    import sys
    import time

    from conftest import ROOT

    out = tmp_path / "m.safetensors"
    base = [sys.executable, str(ROOT / "cli.py"), "train", str(shapes_folder), "-o", str(out)]
    args = base + [
            "--family", "vector", "--size", "32", "--latent", "8", "--widths", "8,16",
            "--blocks", "1", "--batch", "4", "--steps", "100000", "--save-every", "100000",
            "--device", "cpu", "--workers", "1"]
    # Its own process group, signalled whole as a terminal's Ctrl-C is: the decoding
    # process gets the SIGINT too, and must not break the save.
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    checkpoint = tmp_path / "m.run" / "checkpoint.safetensors"
    deadline = time.time() + 120
    while not (tmp_path / "m.run" / "skipped.txt").exists() and time.time() < deadline:
        time.sleep(0.2)  # the run folder appears once training starts
    time.sleep(2.0)  # well inside training, whose Ctrl-C handler is installed by now
    os.killpg(proc.pid, signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    steps = read_checkpoint(checkpoint).metadata["training"]["steps"]
    assert 0 < steps < 100000
    # The command the message prints, as given (a later --steps, to end soon, overrides).
    printed = shlex.split(stderr.split("Continue with: ")[1].splitlines()[0])
    assert printed[:2] == ["latentfx", "train"] and "--resume" in printed
    resumed = subprocess.run([sys.executable, str(ROOT / "cli.py"), *printed[1:], "--steps",
                              str(steps + 3)], capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resumed at step {steps}" in resumed.stdout


def test_reading_the_loss_back_every_step_or_every_ten_gives_the_same_curve(shapes_folder,
                                                                              tmp_path,
                                                                              monkeypatch):
    from latentfx.training import loop

    rows, original = {}, loop.train_steps
    for every in (1, 10):
        spec = tiny_train_spec(shapes_folder, tmp_path / f"{every}.safetensors", steps=20,
                               save_every=100)
        monkeypatch.setattr(loop, "train_steps",
                            lambda *a, every=every, **kw: original(*a, **kw, log_every=every))
        result = train.run(spec)
        saved = read_checkpoint(result.run_dir / "checkpoint.safetensors")
        rows[every] = saved.metadata["training"]["state"]["history"]
    assert len(rows[1]) == 20 and len(rows[10]) == 2
    for row in rows[10]:  # a row of ten is the mean of the ten single-step rows
        singles = [r for r in rows[1] if row[0] - 10 < r[0] <= row[0]]
        for k in (1, 2, 3):
            assert row[k] == pytest.approx(sum(r[k] for r in singles) / 10, rel=1e-5)
    assert same_weights(weights(tmp_path / "1.safetensors"), weights(tmp_path / "10.safetensors"))


def test_precision_choice_and_bf16_on_the_cpu(shapes_folder, tmp_path):
    import math

    from latentfx.training.precision import choose_precision

    cpu = torch.device("cpu")
    assert choose_precision("auto", cpu).name == "fp32"  # no autocast on the CPU by default
    assert choose_precision("bf16", cpu).name == "bf16"
    with pytest.raises(InputError, match="fp16 needs a CUDA device"):
        choose_precision("fp16", cpu)
    result = train.run(tiny_train_spec(shapes_folder, tmp_path / "m.safetensors", steps=4,
                                       precision="bf16"))
    history = read_checkpoint(result.run_dir / "checkpoint.safetensors").metadata["training"]["state"]["history"]
    assert all(math.isfinite(v) for row in history for v in row)
    model, _ = load_checkpoint(result.output)
    assert all(p.dtype == torch.float32 for p in model.parameters())  # weights stay fp32


def test_compile_hands_the_forward_pass_to_torch_compile(shapes_folder, tmp_path, monkeypatch):
    """The option's plumbing only: a real torch.compile takes about half a minute on a small
    CPU (checked by hand), too slow for the suite. What torch.compile returns is what trains."""
    compiled, calls = [], {"n": 0}

    def fake_compile(model):
        compiled.append(model)

        def forward(*args, **kwargs):
            calls["n"] += 1
            return model(*args, **kwargs)
        return forward

    monkeypatch.setattr(torch, "compile", fake_compile)
    train.run(tiny_train_spec(shapes_folder, tmp_path / "m.safetensors", steps=3,
                              compile=True))
    assert len(compiled) == 1 and calls["n"] == 3
    calls["n"] = 0
    train.run(tiny_train_spec(shapes_folder, tmp_path / "n.safetensors", steps=3))
    assert len(compiled) == 1 and calls["n"] == 0
