"""The models and sample images that ship inside the package."""

import torch

from latentfx.datasets.shapes import generate
from latentfx.images.loading import image_to_tensor, load_image
from latentfx.images.metrics import psnr
from latentfx.models.bundled import BUNDLED_MODELS, WEIGHTS_DIR, bundled_model_path, sample_images
from latentfx.models.loading import load_model


def test_bundled_weights_exist_and_stay_under_25_mb():
    sizes = {name: bundled_model_path(name).stat().st_size for name in BUNDLED_MODELS}
    assert sum(sizes.values()) < 25 * 1024 * 1024, sizes


def test_the_default_model_reconstructs_an_unseen_photograph_at_its_own_size():
    """matplotlib's Grace Hopper portrait (512x600) is not in the training set."""
    import matplotlib.cbook

    model, info = load_model(None, device="cpu")
    assert info.config.family == "spatial"
    assert info.path == bundled_model_path("default")
    x = image_to_tensor(load_image(matplotlib.cbook.get_sample_data("grace_hopper.jpg",
                                                                    asfileobj=False)))
    recon = model.reconstruct(x[None])[0]
    assert recon.shape == x.shape  # native resolution and aspect
    assert psnr(recon, x) >= 26.0
    assert model.compression(600, 512) == 12.0


def test_the_bundled_sample_images_load():
    samples = sample_images()
    assert [p.name for p in samples] == ["chelsea.jpg", "coffee.jpg", "tabby.jpg"]
    assert all(load_image(p).size[0] > 256 for p in samples)


def test_the_shapes_model_reconstructs_fresh_shapes():
    model, info = load_model("shapes", device="cpu")
    assert info.config.family == "vector" and info.config.image_size == 64
    scores = []
    for index in range(100_000, 100_016):  # indices far beyond its training set
        img, _ = generate(index, seed=0, size=64)
        x = image_to_tensor(img)
        scores.append(psnr(model.reconstruct(x[None])[0], x))
    assert sum(scores) / len(scores) > 22.0, scores


def test_the_model_card_lists_the_training_images_and_results():
    import importlib.util

    from conftest import ROOT

    spec = importlib.util.spec_from_file_location("recipe", ROOT / "scripts" / "train_default_model.py")
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    card = (WEIGHTS_DIR / "MODEL_CARD.md").read_text()
    for name in recipe.TRAINING_IMAGES:
        assert name in card, name
    assert "dB" in card and "frames/s" in card


def test_the_glyphs_model_reconstructs_a_typeface_it_never_saw():
    """DejaVu Sans Mono was held out of its training (scripts/train_glyphs_model.py)."""
    import numpy as np

    from latentfx.datasets.glyphs import render_glyphs
    from latentfx.datasets.typefaces import font_set

    model, info = load_model("glyphs", device="cpu")
    assert info.config.family == "vector" and info.config.normalize_means
    mono = [f for f in font_set("matplotlib") if f.name == "DejaVu Sans Mono"]
    items = render_glyphs(chars="A-Z", faces=mono)
    x = torch.stack([torch.from_numpy(np.array(image)).permute(2, 0, 1).float() / 255
                     for image, _ in items])
    assert psnr(model.reconstruct(x), x) >= 22.0  # measured 25 dB on the held-out faces
    assert model.fitted_prior is not None
