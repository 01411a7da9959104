import json
import re
import subprocess
import sys

import pytest
from click.testing import CliRunner
from PIL import Image

import cli
from conftest import ROOT

COMMANDS = ["train", "info", "models", "reconstruct", "sample", "shapes", "walk", "rerender",
            "encode", "neighbors", "mix", "filter", "jobs", "status", "cancel", "retry",
            "fetch", "worker", "doctor", "inspect", "vector", "apply", "map", "transfer",
            "degrees", "fit-prior"]


def invoke(*args):
    return CliRunner().invoke(cli.cli, [str(a) for a in args], catch_exceptions=False)


@pytest.mark.parametrize("command", [[]] + [[c] for c in COMMANDS])
def test_help_answers_without_importing_torch(command):
    code = ("import sys, cli\n"
            "try:\n    cli.cli(args=sys.argv[1:], prog_name='latentfx')\n"
            "except SystemExit as e:\n    assert e.code == 0, e.code\n"
            "heavy = [m for m in ('torch', 'torchvision', 'numpy', 'pipelines') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    done = subprocess.run([sys.executable, "-c", code, *command, "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Usage: latentfx" in done.stdout


def test_every_option_has_help():
    for name, command in cli.cli.commands.items():
        for param in command.params:
            if param.param_type_name == "option" and param.name != "help":
                assert param.help, f"{name} --{param.name} has no help text"


@pytest.mark.parametrize("args", [
    ["nope"],
    ["train"],
    ["train", "/definitely/missing/folder", "-o", "m.safetensors"],
    ["sample", "-o", "x.png", "--size", "wide"],
    ["sample", "-o", "x.png", "--device", "tpu"],
    ["train", ".", "-o", "m.safetensors", "--widths", "8,-2"],
])
def test_usage_errors_exit_2(args):
    assert invoke(*args).exit_code == 2


def test_reconstruct_prints_psnr_and_writes_a_grid(tiny_spatial_model, shapes_folder, tmp_path):
    out = tmp_path / "grid.png"
    images = [shapes_folder / "shape_000000.png", shapes_folder / "shape_000001.png"]
    result = invoke("reconstruct", *images, "-o", out, "-m", tiny_spatial_model, "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert len(re.findall(r"shape_00000\d\.png: \d+\.\d\d dB", result.output)) == 2
    grid = Image.open(out)
    assert grid.size == (2 * 32 + 3 * 2, 2 * 32 + 3 * 2)  # rows: images; columns: original | reconstruction
    manifest = json.loads((tmp_path / "grid.png.latentfx.json").read_text())
    assert manifest["job"] == "reconstruct" and len(manifest["inputs"]) == 2
    assert len(manifest["model_id"]) == 64


def test_reconstruct_with_a_bad_file_still_writes_the_rest_and_exits_4(tiny_vector_model,
                                                                        shapes_folder, tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff garbage")
    out = tmp_path / "grid.png"
    result = invoke("reconstruct", shapes_folder / "shape_000002.png", bad, "-o", out,
                    "-m", tiny_vector_model)
    assert result.exit_code == 4
    assert "broken.jpg" in result.output and out.exists()


@pytest.mark.parametrize("make_args, message", [
    (lambda t, m: ["reconstruct", t / "missing.png", "-o", t / "o.png", "-m", m], "missing.png: no such file"),
    (lambda t, m: ["reconstruct", t / "x.png", "-o", t / "nodir" / "o.png", "-m", m], "does not exist"),
    (lambda t, m: ["reconstruct", t / "x.png", "-o", t / "o.gifx", "-m", m], "unknown extension"),
    (lambda t, m: ["reconstruct", t / "x.png", "-o", t, "-m", m], "is a folder"),
    (lambda t, m: ["sample", "-o", t / "s.png", "-m", t / "nomodel.safetensors"], "no such model file"),
    (lambda t, m: ["sample", "-o", t / "s.png", "-m", m, "-n", "0"], "-n must be between"),
    (lambda t, m: ["sample", "-o", t / "s.png", "-m", m, "--size", "64x64"], "spatial models only"),
    (lambda t, m: ["info", t / "x.png"], "not a safetensors file"),
    (lambda t, m: ["info", "-m", m, "--size", "64x64"], "works at 32x32 only"),
    (lambda t, m: ["shapes", t, "-n", "2"], "folder is not empty"),
])
def test_bad_input_exits_3_with_a_message(tiny_vector_model, tmp_path, make_args, message):
    Image.new("RGB", (40, 40)).save(tmp_path / "x.png")
    result = invoke(*make_args(tmp_path, tiny_vector_model))
    assert result.exit_code == 3, result.output
    assert message in result.output


def test_sample_writes_n_images(tiny_vector_model, tiny_spatial_model, tmp_path):
    result = invoke("sample", "-n", 6, "--seed", 3, "-o", tmp_path / "v.png", "-m", tiny_vector_model)
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "v.png").size == (3 * 32 + 4 * 2, 2 * 32 + 3 * 2)
    result = invoke("sample", "-n", 1, "--size", "40x24", "-o", tmp_path / "s.png",
                    "-m", tiny_spatial_model)
    assert result.exit_code == 0 and "at 40x24" in result.output
    assert Image.open(tmp_path / "s.png").size == (40, 24)  # one image: no gutters


def test_sample_is_seeded(tiny_vector_model, tmp_path):
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        invoke("sample", "-n", 2, "--seed", seed, "-o", tmp_path / f"{name}.png", "-m", tiny_vector_model)
    read = lambda n: (tmp_path / f"{n}.png").read_bytes()
    assert read("a") == read("b") != read("c")


def test_info_describes_a_model(tiny_spatial_model):
    result = invoke("info", tiny_spatial_model, "--size", "64x48")
    assert result.exit_code == 0
    assert "spatial" in result.output and "4 x 12 x 16 for 64x48 (compression 12.00x)" in result.output
    summary = json.loads(invoke("info", tiny_spatial_model, "--json").output)
    assert len(summary["model_id"]) == 64 and summary["training"]["steps"] == 60


def test_train_through_the_cli(shapes_folder, tmp_path):
    out = tmp_path / "cli.safetensors"
    result = invoke("train", shapes_folder, "-o", out, "--family", "vector", "--size", "32",
                    "--latent", "4", "--widths", "8,16", "--blocks", "1", "--steps", "3",
                    "--batch", "4", "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert "trained 3 steps on 48 images" in result.output and out.exists()
    again = invoke("train", shapes_folder, "-o", out, "--steps", "3")
    assert again.exit_code == 3 and "--resume" in again.output


def test_shapes_writes_images_and_labels(tmp_path):
    result = invoke("shapes", tmp_path / "ds", "-n", 5, "--size", 24)
    assert result.exit_code == 0
    assert len(list((tmp_path / "ds").glob("*.png"))) == 5
    assert (tmp_path / "ds" / "labels.csv").read_text().count("\n") == 6


def test_models_lists_the_bundled_models():
    result = invoke("models")
    assert result.exit_code == 0
    assert "default" in result.output and "shapes" in result.output
    assert "missing" not in result.output


def test_resume_refuses_new_settings(shapes_folder, tmp_path):
    result = invoke("train", shapes_folder, "-o", tmp_path / "m.safetensors", "--resume",
                    "--lr", "0.1", "--beta", "0.5")
    assert result.exit_code == 2
    assert "drop --lr, --beta" in result.output
