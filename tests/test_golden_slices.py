"""Golden slices: a few output numbers of each model family and of the bundled models, pinned.

Refactors of the model code must not change what a model computes. These tests run encode
(posterior mean and logvar) and decode on fixed seeded inputs and compare an evenly spread
slice of each output with numbers recorded from the code, the way diffusers pins its models.

Tolerance: atol 1e-4. The numbers come from float32 CPU kernels, whose last bits may differ
between machines (oneDNN / MKL pick convolution algorithms and summation orders by CPU and
thread count: differences of about 1e-6); any change to what the model computes (a layer, an
activation, a padding mode, an initialisation order) moves them by orders of magnitude more.
The bundled models' frames being bit-identical is checked on whole outputs, not here.
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


CASES = {
    "tiny_spatial": case_tiny_spatial,
    "tiny_vector": case_tiny_vector,
    "bundled_default": case_bundled_default,
    "bundled_shapes": case_bundled_shapes,
}

EXPECTED: dict[str, dict[str, list[float]]] = {
    'tiny_spatial': {
        'mean': [0.006753, -0.011024, -0.003161, 0.012052, -0.002071, -0.081128, 0.033909, 0.052213],
        'logvar': [0.015485, 0.015992, 0.059677, 0.042714, 0.020240, -0.054743, 0.041284, 0.021350],
        'decoded': [0.612360, 0.540989, 0.587500, 0.420088, 0.439553, 0.568314, 0.490414, 0.580522],
    },
    'tiny_vector': {
        'mean': [-0.088217, 0.014792, -0.008742, -0.004596, 0.034558, -0.022692, 0.045468, 0.064603],
        'logvar': [-0.003345, -0.053116, -0.058407, 0.001519, 0.018288, -0.017321, 0.022504, 0.005716],
        'decoded': [0.535555, 0.572003, 0.582430, 0.707036, 0.428846, 0.379242, 0.342289, 0.605168],
    },
    'bundled_default': {
        'mean': [1.107364, 0.111993, -0.794765, 0.075327, 1.712985, 0.188347, 0.280121, 2.365186],
        'logvar': [-6.817952, -7.928557, -8.096613, -8.107227, -7.951244, -8.148030, -8.471364, -7.512250],
        'decoded': [0.334571, 0.218728, 0.396329, 0.472687, 0.583083, 0.676564, 0.639372, 0.747679],
    },
    'bundled_shapes': {
        'mean': [3.336244, 0.959458, 1.646621, -3.458799, -0.425475, -1.064438, -2.350707, 0.025797],
        'logvar': [-6.136956, -5.263233, -5.606028, -5.366320, -5.925392, -5.601192, -5.920387, -6.353750],
        'decoded': [0.158150, 0.820462, 0.827032, 0.590848, 0.645800, 0.063482, 0.668953, 0.661501],
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
            print(f"        {key!r}: [{', '.join(f'{v:.6f}' for v in spread(value.cpu()).tolist())}],")
        print("    },")
