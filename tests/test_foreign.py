"""Foreign autoencoders (latentfx/models/foreign/) against diffusers itself: tiny randomly
initialised AutoencoderKL and AutoencoderTiny models written in each layout users have on
disk load through latentfx and give diffusers' own latents and pixels; kinds are told from
the files or asked for; pickles are refused; every verb runs through them."""

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

pytest.importorskip("diffusers")

import cli  # noqa: E402
from test_cli_fast_failures import ROOT, torchless_path  # noqa: E402,F401 (a fixture)
from foreign_models import (tiny_kl, tiny_taesd, write_folder, write_ldm,  # noqa: E402
                            write_taesd, write_taesd_combined)
from latentfx.errors import CheckpointError  # noqa: E402
from latentfx.io.safetensors_files import file_sha256  # noqa: E402
from latentfx.models.foreign import load_foreign  # noqa: E402

TOLERANCE = 1e-5  # fp32, same weights, same input: the only difference is summation order


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    base = tmp_path_factory.mktemp("foreign")
    kl, kl16, tiny = tiny_kl(4, seed=1), tiny_kl(16, seed=2, quant=False), tiny_taesd(4, seed=3)
    encoder, decoder = write_taesd(tiny, base / "taesd")
    return {
        "kl": kl, "kl16": kl16, "tiny": tiny,
        "ldm": write_ldm(kl, base / "sd_vae.safetensors"),
        # A whole SDXL checkpoint: the autoencoder under first_stage_model., beside the rest.
        "sdxl_checkpoint": write_ldm(kl, base / "sdxl_base.safetensors",
                                     prefix="first_stage_model.",
                                     extra={"conditioner.embedders.1.proj": torch.zeros(2)}),
        "ldm16": write_ldm(kl16, base / "ae.safetensors"),
        "folder": write_folder(kl, base / "vae_folder"),
        "taesd_encoder": encoder, "taesd_decoder": decoder,
        "taesd_combined": write_taesd_combined(tiny, base / "taesd.safetensors"),
        "taesd_folder": write_folder(tiny, base / "taesd_folder"),
    }


def diffusers_kl(vae, x, z, scale, shift=0.0):
    """What a diffusers pipeline gets: normalised latent means, and [0, 1] pictures."""
    with torch.no_grad():
        mean = (vae.encode(x * 2 - 1).latent_dist.mean - shift) * scale
        pixels = ((vae.decode(z / scale + shift).sample + 1) / 2).clamp(0, 1)
    return mean, pixels


def diffusers_tiny(vae, x, z):
    with torch.no_grad():
        return vae.encode(x * 2 - 1).latents, ((vae.decode(z).sample + 1) / 2).clamp(0, 1)


def through_latentfx(model, x, z):
    with torch.no_grad():
        return model.encode(x).mean, model.decode(z)


CASES = {  # name: (-m, --vae-kind, --decoder, reference, scale, shift)
    "ldm as sd": ("ldm", "sd", None, "kl", 0.18215, 0.0),
    "ldm as sdxl": ("ldm", "sdxl", None, "kl", 0.13025, 0.0),
    "whole sdxl checkpoint": ("sdxl_checkpoint", None, None, "kl", 0.13025, 0.0),
    "16 channels as flux": ("ldm16", "flux", None, "kl16", 0.3611, 0.1159),
    "16 channels as sd3": ("ldm16", "sd3", None, "kl16", 1.5305, 0.0609),
    "diffusers folder": ("folder", None, None, "kl", 0.18215, 0.0),
    "taesd halves": ("taesd_encoder", None, "taesd_decoder", "tiny", None, None),
    "taesd combined": ("taesd_combined", None, None, "tiny", None, None),
    "taesd folder": ("taesd_folder", None, None, "tiny", None, None),
}


@pytest.mark.parametrize("case", CASES)
def test_latents_and_pixels_are_diffusers_own(files, case):
    name, kind, decoder, reference, scale, shift = CASES[case]
    model, info = load_foreign(files[name], kind=kind,
                               decoder=files[decoder] if decoder else None)
    x = torch.rand(2, 3, 40, 56, generator=torch.Generator().manual_seed(0))
    z = torch.randn(2, model.config.latent_channels, 10, 14,
                    generator=torch.Generator().manual_seed(1))
    vae = files[reference]
    expected = (diffusers_tiny(vae, x, z) if scale is None
                else diffusers_kl(vae, x, z, scale, shift))
    for got, want in zip(through_latentfx(model, x, z), expected):
        assert got.shape == want.shape
        assert (got - want).abs().max() <= TOLERANCE
    weights = files[name] / "diffusion_pytorch_model.safetensors" if files[name].is_dir() \
        else files[name]
    assert info.model_id == file_sha256(weights)


def test_a_taesd_decoder_decodes_a_full_encoders_latents(files):
    """--decoder: the latents come from the AutoencoderKL's encoder, the pixels from TAESD."""
    model, _ = load_foreign(files["ldm"], kind="sd", decoder=files["taesd_decoder"])
    x = torch.rand(1, 3, 32, 32)
    mean, _ = diffusers_kl(files["kl"], x, torch.zeros(1, 4, 8, 8), 0.18215)
    with torch.no_grad():
        assert (model.encode(x).mean - mean).abs().max() <= TOLERANCE
        _, pixels = diffusers_tiny(files["tiny"], x, mean)
        assert (model.decode(mean) - pixels).abs().max() <= TOLERANCE
    assert model.decoder_part is not None and model.encoder_part.decoder is None


def test_sd_and_sdxl_files_cannot_be_told_apart_so_the_kind_is_asked_for(files):
    with pytest.raises(CheckpointError) as error:
        load_foreign(files["ldm"])
    message = str(error.value)
    assert "--vae-kind sd " in message and "--vae-kind sdxl " in message
    assert "0.18215" in message and "0.13025" in message
    with pytest.raises(CheckpointError, match="--vae-kind sd3 .*--vae-kind flux "):
        load_foreign(files["ldm16"])
    with pytest.raises(CheckpointError, match="16-channel latents and sd has 4"):
        load_foreign(files["ldm16"], kind="sd")


def test_the_cli_asks_for_the_kind_and_exits_3(files, tmp_path):
    done = invoke("walk", "seed:1", "seed:2", "-m", files["ldm"], "-o", tmp_path / "w.mp4")
    assert done.exit_code == 3
    assert "--vae-kind sd " in done.output and "identical shapes" in done.output
    assert not (tmp_path / "w.mp4").exists()


def test_a_decoder_of_other_latents_is_refused(files):
    with pytest.raises(CheckpointError, match="4-channel latents"):
        load_foreign(files["ldm16"], kind="flux", decoder=files["taesd_decoder"])
    with pytest.raises(CheckpointError, match="a decoder only"):
        load_foreign(files["taesd_decoder"])
    with pytest.raises(CheckpointError, match="an encoder only; give its decoder"):
        load_foreign(files["taesd_encoder"])


@pytest.mark.parametrize("suffix", [".ckpt", ".pt", ".pth"])
def test_pickled_checkpoints_are_refused_with_how_to_convert(tmp_path, suffix):
    path = tmp_path / f"vae{suffix}"
    torch.save({"state_dict": {"encoder.conv_in.weight": torch.zeros(1)}}, path)
    done = invoke("reconstruct", cli_sample(), "-m", path, "-o", tmp_path / "r.png")
    assert done.exit_code == 3
    assert "never unpickles" in done.output
    assert "weights_only=True" in done.output and "st.save_file" in done.output
    assert not (tmp_path / "r.png").exists()


def test_a_folder_holding_only_pickled_weights_is_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"_class_name": "AutoencoderKL"}))
    (tmp_path / "diffusion_pytorch_model.bin").write_bytes(b"\x80\x04not read")
    with pytest.raises(CheckpointError, match="never unpickles"):
        load_foreign(tmp_path)


def test_large_frames_decode_in_blended_tiles(files, monkeypatch):
    from latentfx.models.foreign import model as foreign_model

    model, _ = load_foreign(files["ldm"], kind="sd")
    z = torch.randn(1, 4, 24, 32, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        whole = model.decode(z)
        calls = []
        real = model._pixels
        monkeypatch.setattr(model, "_pixels", lambda t: calls.append(t.shape) or real(t))
        monkeypatch.setitem(foreign_model.TILE_PIXELS, "AutoencoderKL", 64)
        tiles = model.decode(z)
    assert len(calls) > 1 and all(s[-1] <= 64 // 4 for s in calls)
    assert tiles.shape == whole.shape
    # Group norms see each tile's own statistics, so tiles differ a little, not wholesale.
    assert (tiles - whole).abs().mean() < 0.05


# -- every verb, through the CLI ----------------------------------------------------------------

def invoke(*args):
    return CliRunner().invoke(cli.cli, [str(a) for a in args], catch_exceptions=False)


def cli_sample() -> Path:
    from latentfx.models.bundled import sample_images

    return sample_images()[0]


MODELS = {  # how each layout is named on the command line
    "ldm": lambda f: ["-m", f["ldm"], "--vae-kind", "sd"],
    "folder": lambda f: ["-m", f["folder"]],
    "taesd": lambda f: ["-m", f["taesd_encoder"], "--decoder", f["taesd_decoder"]],
}


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    from PIL import Image

    from latentfx.models.bundled import sample_images

    folder = tmp_path_factory.mktemp("pictures")
    for i, path in enumerate(sample_images()):
        for flip in (False, True):
            image = Image.open(path).convert("RGB").resize((48, 40))
            if flip:
                image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            sub = folder / ("a" if i % 2 == 0 else "b")
            sub.mkdir(exist_ok=True)
            image.save(sub / f"{path.stem}{'_flip' if flip else ''}.png")
    return folder


def manifest(output: Path) -> dict:
    return json.loads(output.with_name(output.name + ".latentfx.json").read_text())


@pytest.mark.parametrize("layout", MODELS)
def test_walk_encode_and_transfer_run_through_each_layout(files, pictures, tmp_path, layout):
    model = MODELS[layout](files)
    a, b = sorted(pictures.rglob("*.png"))[:2]
    walk = tmp_path / "walk.mp4"
    done = invoke("walk", a, b, *model, "--frames", "3", "--size", "48x40", "-o", walk,
                  "--device", "cpu")
    assert done.exit_code == 0, done.output
    from latentfx.video.reader import read_frames  # the real file, decoded by ffmpeg

    assert read_frames(walk).shape[:3] == (4, 40, 48)
    recorded = manifest(walk)
    assert recorded["model_id"] == file_sha256(_weights(model[1]))
    if "--decoder" in model:
        assert recorded["decoder_id"] == file_sha256(files["taesd_decoder"])

    store = tmp_path / "store.safetensors"
    done = invoke("encode", pictures, *model, "--size", "48x40", "-o", store, "--workers", "0")
    assert done.exit_code == 0, done.output
    assert "6 latents" in done.output

    out = tmp_path / "transferred.png"
    done = invoke("transfer", a, *model, "-o", out)
    assert done.exit_code == 0, done.output
    from PIL import Image

    assert Image.open(out).size == Image.open(a).size


def _weights(path) -> Path:
    path = Path(path)
    return path / "diffusion_pytorch_model.safetensors" if path.is_dir() else path


def test_every_verb_runs_on_a_foreign_model(files, pictures, tmp_path):
    model = MODELS["taesd"](files)
    a, b = sorted(pictures.rglob("*.png"))[:2]
    store = tmp_path / "store.safetensors"
    steps = [
        ["reconstruct", a, b, *model, "-o", tmp_path / "recon.png"],
        ["encode", pictures, *model, "--size", "48x40", "--folder-labels", "-o", store,
         "--workers", "0"],
        ["neighbors", a, "--store", store, *model, "-k", "2", "-o", tmp_path / "nn.png"],
        ["degrees", a, b, "--pool", store, *model, "-n", "1", "-k", "3", "--frames", "2",
         "--hold", "0", "--size", "48x40", "-o", tmp_path / "chain.mp4"],
        ["map", store, "-o", tmp_path / "map.png"],
        ["vector", "--store", store, "--attr", "a", *model, "-o", tmp_path / "a.safetensors"],
        ["apply", tmp_path / "a.safetensors", a, *model, "-o", tmp_path / "applied.png"],
        ["mix", f"{a}:0.5", f"{b}:0.5", *model, "-o", tmp_path / "mix.png"],
        ["sample", "-n", "2", "--size", "32x32", *model, "-o", tmp_path / "sample.png"],
        ["inspect", a, *model, "--channels", "2", "-o", tmp_path / "layers.png"],
        ["info", *model],
    ]
    for step in steps:
        done = invoke(*step)
        assert done.exit_code == 0, (step[0], done.output)
    for name in ("recon.png", "nn.png", "chain.mp4", "map.png", "a.safetensors",
                 "applied.png", "mix.png", "sample.png", "layers.png"):
        assert (tmp_path / name).is_file(), name
    assert "TAESD-family AutoencoderTiny" in done.output and "GFLOP per" in done.output
    assert manifest(tmp_path / "mix.png")["model_id"] == file_sha256(files["taesd_encoder"])


def test_inspect_shows_diffusers_blocks_as_blocks(files, pictures, tmp_path):
    out = tmp_path / "layers.png"
    done = invoke("inspect", sorted(pictures.rglob("*.png"))[0], *MODELS["ldm"](files),
                  "-o", out)
    assert done.exit_code == 0, done.output
    layers = [row["name"] for row in manifest(out)["results"]["layers"]]
    assert any(name.endswith("resnets.0") for name in layers)
    assert not any(".resnets.0.conv1" in name for name in layers)


def test_a_slow_decoder_on_the_cpu_says_what_the_walk_costs_up_front(files, pictures, tmp_path,
                                                                     monkeypatch):
    from latentfx.models.foreign import cost

    monkeypatch.setattr(cost, "SLOW_SECONDS", 0.0)  # the tiny model is fast; the rule is not
    walk = tmp_path / "walk.mp4"
    done = invoke("walk", "seed:1", "seed:2", *MODELS["ldm"](files), "--frames", "2",
                  "--size", "32x32", "-o", walk, "--device", "cpu")
    assert done.exit_code == 0, done.output
    assert "TFLOP" in done.output and "for 3 frames" in done.output
    assert "--decoder taesd_decoder.safetensors" in done.output and "--submit" in done.output
    done = invoke("walk", "seed:1", "seed:2", *MODELS["taesd"](files), "--frames", "2",
                  "--size", "32x32", "-o", walk, "--device", "cpu")
    assert "TFLOP" in done.output and "--decoder" not in done.output.split("TFLOP")[1]
    a, b = sorted(pictures.rglob("*.png"))[:2]
    done = invoke("degrees", a, b, "--pool", pictures, *MODELS["ldm"](files), "-n", "1",
                  "--frames", "2", "--hold", "0", "--size", "48x40", "-o", tmp_path / "d.mp4",
                  "--device", "cpu")
    assert done.exit_code == 0, done.output
    assert "TFLOP" in done.output and "--decoder taesd_decoder.safetensors" in done.output


def test_farm_submit_stages_the_model_and_decoder_files_by_content(files, tmp_path):
    from pipelines.walk import WalkSpec
    from workers.submit import _stage_inputs

    root, job = tmp_path / "root", tmp_path / "root" / "jobs" / "j1"
    (job / "inputs").mkdir(parents=True)
    spec = WalkSpec(keyframes=["seed:1", "seed:2"], output="w.mp4", model=str(files["ldm"]),
                    vae_kind="sd", decoder=str(files["taesd_decoder"]))
    staged = _stage_inputs(WalkSpec, spec.to_dict(), root, job)
    for field in ("model", "decoder"):
        path = Path(staged[field])
        assert path.parent == root / "models"
        assert path.name == f"{file_sha256(getattr(spec, field))}.safetensors"
    assert staged["vae_kind"] == "sd"
    # What the worker loads: the staged copies, whose names say nothing of their layout.
    model, _ = load_foreign(staged["model"], kind="sd", decoder=staged["decoder"])
    assert model.sides["decoder"].cls == "AutoencoderTiny"


def test_farm_submit_stages_flux_original_sft_file(files, tmp_path):
    """FLUX's autoencoder ships as `ae.sft`: local runs read it by its header, so the farm
    stages it as the safetensors file it is."""
    import shutil

    from pipelines.walk import WalkSpec
    from workers.submit import _stage_inputs

    sft = Path(shutil.copy(files["ldm16"], tmp_path / "ae.sft"))
    root, job = tmp_path / "root", tmp_path / "root" / "jobs" / "j1"
    (job / "inputs").mkdir(parents=True)
    spec = WalkSpec(keyframes=["seed:1", "seed:2"], output="w.mp4", model=str(sft),
                    vae_kind="flux")
    staged = Path(_stage_inputs(WalkSpec, spec.to_dict(), root, job)["model"])
    assert staged == root / "models" / f"{file_sha256(sft)}.safetensors"
    model, _ = load_foreign(staged, kind="flux")
    assert model.config.latent_channels == 16


def test_rerender_refuses_a_decoder_that_changed(files, tmp_path):
    import shutil

    from foreign_models import write_taesd

    encoder, decoder = (shutil.copy(f, tmp_path / f.name)
                        for f in (files["taesd_encoder"], files["taesd_decoder"]))
    walk = tmp_path / "walk.gif"
    args = ["seed:1", "seed:2", "-m", encoder, "--decoder", decoder, "--frames", "2",
            "--size", "32x32", "--device", "cpu"]
    assert invoke("walk", *args, "-o", walk).exit_code == 0
    again = invoke("rerender", walk.with_name("walk.gif.latentfx.json"), "-o", tmp_path / "r.gif")
    assert again.exit_code == 0, again.output
    assert (tmp_path / "r.gif").read_bytes() == walk.read_bytes()
    write_taesd(tiny_taesd(4, seed=9), tmp_path / "other")  # another decoder, same name
    shutil.copy(tmp_path / "other" / "taesd_decoder.safetensors", decoder)
    again = invoke("rerender", walk.with_name("walk.gif.latentfx.json"), "-o", tmp_path / "s.gif")
    assert again.exit_code == 3 and "made with decoder" in again.output


def test_foreign_options_on_a_latentfx_model_are_refused_by_name(tmp_path):
    done = invoke("reconstruct", cli_sample(), "-m", "shapes", "--vae-kind", "sd",
                  "-o", tmp_path / "r.png")
    assert done.exit_code == 3 and "drop --vae-kind" in done.output


def test_a_float16_overflow_falls_back_to_the_files_float32_weights(tmp_path):
    """The SDXL VAE's black frames: in float16 a value overflows. Here a decoder whose last
    layer only float32 can hold; the fallback decodes again with the file's own weights."""
    vae = tiny_taesd(4, seed=5)
    with torch.no_grad():
        vae.decoder.layers[-1].weight.mul_(1e6)  # beyond float16's 65504
    encoder, decoder = write_taesd(vae, tmp_path)
    model, _ = load_foreign(encoder, decoder=decoder)
    z = torch.randn(1, 4, 4, 4, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = model.decode_raw(z)
        model.use_dtype(torch.float16)
        got = model.decode_raw(z)
    assert torch.isfinite(expected).all() and model.dtype == torch.float32
    assert torch.equal(got, expected)


def test_a_diffusers_weights_file_without_its_config_says_to_give_the_folder(files, tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "diffusion_pytorch_model.safetensors"
    save_file({k: v.contiguous() for k, v in files["kl"].state_dict().items()}, str(path))
    with pytest.raises(CheckpointError, match="pass the diffusers folder"):
        load_foreign(path)


def test_pooled_features_of_a_tiled_picture_take_every_tile(files, monkeypatch):
    from latentfx.features.pooled import encode_pooled
    from latentfx.models.foreign import model as foreign_model

    model, _ = load_foreign(files["taesd_combined"])
    # Left half dark, right half bright: the first tile alone would see only the dark.
    x = torch.cat([torch.full((1, 3, 64, 64), 0.1), torch.full((1, 3, 64, 64), 0.9)], dim=3)
    _, whole = encode_pooled(model, x)
    monkeypatch.setitem(foreign_model.TILE_PIXELS, "AutoencoderTiny", 64)
    _, tiled = encode_pooled(model, x)
    _, left = encode_pooled(model, x[..., :64])
    assert (tiled - whole).abs().max() < 0.25 * (left - whole).abs().max()


FAST_FAILURES = {  # (arguments given the fixture's files, what the message says)
    "kind asked for": (lambda f: ["walk", "seed:1", "seed:2", "-m", f["ldm"], "-o", "w.mp4"],
                       "--vae-kind sd "),
    "decoder of other latents": (lambda f: ["walk", "seed:1", "seed:2", "-m", f["ldm16"],
                                            "--vae-kind", "flux", "--decoder",
                                            f["taesd_decoder"], "-o", "w.mp4"],
                                 "4-channel latents"),
    "decoder only": (lambda f: ["reconstruct", cli_sample(), "-m", f["taesd_decoder"],
                                "-o", "r.png"], "a decoder only"),
    "pickle": (lambda f: ["encode", cli_sample().parent, "-m", f["pickle"], "-o", "s.safetensors"],
               "never unpickles"),
    "info": (lambda f: ["info", "-m", f["ldm"]], "--vae-kind sd "),
}


@pytest.mark.parametrize("case", FAST_FAILURES)
def test_model_file_errors_come_before_torch_loads(files, torchless_path, tmp_path, case):
    import subprocess
    import sys

    pickle = tmp_path.parent / "vae.ckpt"
    pickle.write_bytes(b"PK\x03\x04 a zip of pickles, never read")
    arguments, message = FAST_FAILURES[case]
    args = [str(a) for a in arguments({**files, "pickle": pickle})]
    done = subprocess.run([sys.executable, str(ROOT / "cli.py"), *args], cwd=tmp_path,
                          env={"PYTHONPATH": str(torchless_path), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=60)
    assert "torch was imported" not in done.stderr, done.stderr
    assert message in done.stderr and done.returncode == 3, done.stderr
    assert list(tmp_path.iterdir()) == []


def _folder_with_config(files, tmp_path, **changes):
    """A copy of the diffusers folder with its config.json edited (None removes a key)."""
    import shutil

    folder = tmp_path / "edited"
    shutil.copytree(files["folder"], folder)
    config = json.loads((folder / "config.json").read_text())
    for key, value in changes.items():
        config.pop(key, None) if value is None else config.__setitem__(key, value)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def test_an_old_folder_config_without_a_scale_gets_diffusers_default(files, tmp_path):
    """Configs written before diffusers 0.7 (sd-vae-ft-mse's) have no scaling_factor:
    diffusers fills in 0.18215, and so must latentfx, or latents are 5.5x too wide."""
    folder = _folder_with_config(files, tmp_path, scaling_factor=None)
    model, _ = load_foreign(folder)
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    mean, _ = diffusers_kl(files["kl"], x, torch.zeros(1, 4, 4, 4), 0.18215)
    with torch.no_grad():
        assert (model.encode(x).mean - mean).abs().max() <= TOLERANCE
    assert model.description["kind"] == "sd"


def test_a_vae_kind_that_contradicts_the_folder_config_is_refused(files, tmp_path):
    folder = _folder_with_config(files, tmp_path, scaling_factor=0.13025)  # an SDXL folder
    with pytest.raises(CheckpointError, match="describes a Stable Diffusion XL"):
        load_foreign(folder, kind="sd")
    with pytest.raises(CheckpointError, match="16-channel latents|4-channel latents"):
        load_foreign(folder, kind="flux")
    model, _ = load_foreign(folder, kind="sdxl")
    assert model.description["latent_scale"] == 0.13025


def test_a_taesd_folder_is_never_scaled(files, tmp_path):
    import shutil

    folder = tmp_path / "taesd_scaled"
    shutil.copytree(files["taesd_folder"], folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "scaling_factor": 0.5}))
    model, _ = load_foreign(folder)
    assert (model.description["latent_scale"], model.description["latent_shift"]) == (1.0, 0.0)
