"""Golden slices: a few output numbers of each model family and of the bundled models, pinned.

Refactors of the model code must not change what a model computes. These tests run encode
(posterior mean and logvar) and decode on fixed seeded inputs and compare an evenly spread
slice of each output with numbers recorded from the code, the way diffusers pins its models.

Tolerance: atol 1e-4. The numbers come from float32 CPU kernels, whose last bits may differ
between machines (oneDNN / MKL pick convolution algorithms and summation orders by CPU and
thread count: differences of about 1e-6); any change to what the model computes (a layer, an
activation, a padding mode, an initialisation order) moves them by orders of magnitude more.
So these slices catch a changed computation; they do not prove outputs bit-identical.
"""

from __future__ import annotations

import pytest
import torch

from latentfx.models import ModelConfig, build_model
from latentfx.models.loading import load_model

ATOL = 1e-4
SLICE = 8  # values per output, spread evenly over the flattened tensor


def spread(t: torch.Tensor, n: int = SLICE) -> torch.Tensor:
    """n values at evenly spaced positions of the flattened tensor, first and last included,
    so a change anywhere in a channel, a row or a border shows."""
    flat = t.detach().float().flatten()
    return flat[torch.linspace(0, flat.numel() - 1, n).round().long()]


def seeded_images(seed: int, height: int, width: int) -> torch.Tensor:
    """(1, 3, height, width) in [0, 1]: noise plus a smooth gradient, so both fine detail and
    large areas reach the model."""
    g = torch.Generator().manual_seed(seed)
    noise = torch.rand(1, 3, height, width, generator=g)
    ramp = torch.linspace(0, 1, width).expand(1, 3, height, width)
    return 0.5 * noise + 0.5 * ramp


def tiny(config: ModelConfig):
    torch.manual_seed(0)  # the initial weights
    return build_model(config).eval()


def outputs(model, x: torch.Tensor) -> dict[str, torch.Tensor]:
    with torch.inference_mode():
        posterior = model.encode(x.to(model.device))
        image = model.decode(posterior.mode(), size=tuple(x.shape[-2:]))
    return {"mean": posterior.mean, "logvar": posterior.logvar, "decoded": image}


def check(got: dict[str, torch.Tensor], expected: dict[str, list[float]]) -> None:
    for name, values in expected.items():
        actual = spread(got[name].cpu())
        assert torch.allclose(actual, torch.tensor(values), atol=ATOL), (
            f"{name}: {actual.tolist()} != {values}")


def case_tiny_spatial():
    # 22x18: not a multiple of the factor 4, so the reflect padding and the crop take part.
    model = tiny(ModelConfig(family="spatial", image_size=32, widths=(8, 16), blocks=1,
                             latent_channels=4))
    return model, seeded_images(1, 22, 18)


def case_tiny_vector():
    model = tiny(ModelConfig(family="vector", image_size=32, widths=(8, 16), blocks=1,
                             latent_dim=8))
    return model, seeded_images(2, 32, 32)


def case_bundled_default():
    model, _ = load_model("default", device="cpu")
    return model, seeded_images(3, 40, 56)


def case_bundled_shapes():
    model, _ = load_model("shapes", device="cpu")
    return model, seeded_images(4, 64, 64)


def case_bundled_glyphs():
    model, _ = load_model("glyphs", device="cpu")
    return model, seeded_images(5, 64, 64)


CASES = {
    "tiny_spatial": case_tiny_spatial,
    "tiny_vector": case_tiny_vector,
    "bundled_default": case_bundled_default,
    "bundled_shapes": case_bundled_shapes,
    "bundled_glyphs": case_bundled_glyphs,
}

EXPECTED: dict[str, dict[str, list[float]]] = {
    'tiny_spatial': {
        'mean': [0.00675, -0.01102, -0.00316, 0.01205, -0.00207, -0.08113, 0.03391, 0.05221],
        'logvar': [0.01548, 0.01599, 0.05968, 0.04271, 0.02024, -0.05474, 0.04128, 0.02135],
        'decoded': [0.61236, 0.54099, 0.58750, 0.42009, 0.43955, 0.56831, 0.49041, 0.58052],
    },
    'tiny_vector': {
        'mean': [-0.08822, 0.01479, -0.00874, -0.00460, 0.03456, -0.02269, 0.04547, 0.06460],
        'logvar': [-0.00334, -0.05312, -0.05841, 0.00152, 0.01829, -0.01732, 0.02250, 0.00572],
        'decoded': [0.53555, 0.57200, 0.58243, 0.70704, 0.42885, 0.37924, 0.34229, 0.60517],
    },
    'bundled_default': {
        'mean': [1.10736, 0.11199, -0.79477, 0.07533, 1.71298, 0.18835, 0.28012, 2.36519],
        'logvar': [-6.81795, -7.92856, -8.09661, -8.10723, -7.95124, -8.14803, -8.47136, -7.51225],
        'decoded': [0.33457, 0.21873, 0.39633, 0.47269, 0.58308, 0.67656, 0.63937, 0.74768],
    },
    'bundled_shapes': {
        'mean': [0.33598, 0.69343, 0.14579, 0.23310, 0.08342, 0.33033, 0.42766, -0.09418],
        'logvar': [-14.19164, -14.42221, -15.27379, -14.01017, -14.01829, -15.20174, -15.67758, -15.68836],
        'decoded': [0.74313, 0.74060, 0.74201, 0.74707, 0.74097, 0.70542, 0.70656, 0.69932],
    },
    'bundled_glyphs': {
        'mean': [-4.20110, -0.57624, -1.98755, 0.03143, -0.09917, 1.29635, -0.13310, 1.28431],
        'logvar': [-5.20227, -6.18468, -4.42891, -6.44001, -5.99406, -6.02615, -5.55631, -4.55534],
        'decoded': [1.00000, 0.96786, 1.00000, 0.99697, 0.99974, 0.99227, 0.99818, 0.99604],
    },
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_model_outputs_match_their_golden_slices(case):
    model, x = CASES[case]()
    check(outputs(model, x), EXPECTED[case])


if __name__ == "__main__":  # prints the slices, for recording after an intended change
    for name, make in CASES.items():
        model, x = make()
        print(f"    {name!r}: {{")
        for key, value in outputs(model, x).items():
            values = ", ".join(f"{v:.5f}" for v in spread(value.cpu()).tolist())
            print(f"        {key!r}: [{values}],")
        print("    },")
