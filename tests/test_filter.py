"""`latentfx filter`: the classic 3x3 convolutions, checked against hand-computed pixels."""

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import cli
from latentfx.errors import InputError
from pipelines.filter import KERNELS, FilterSpec, convolve3x3


def test_each_kernel_matches_a_hand_computed_convolution():
    g = torch.Generator().manual_seed(0)
    image = torch.rand(3, 5, 7, generator=g)
    padded = torch.nn.functional.pad(image, (1, 1, 1, 1))
    for name, weights in KERNELS.items():
        k = torch.tensor(weights).reshape(3, 3)
        out = convolve3x3(image, weights)
        assert out.shape == image.shape
        y, x = 2, 0  # an edge pixel: the zero padding counts
        expected = (padded[:, y: y + 3, x: x + 3] * k).sum(dim=(1, 2)).clamp(0, 1)
        assert torch.allclose(out[:, y, x], expected, atol=1e-6), name


def test_blur_keeps_a_flat_image_and_edge_finds_a_step():
    flat = torch.full((3, 6, 6), 0.5)
    assert torch.allclose(convolve3x3(flat, KERNELS["blur"])[:, 1:-1, 1:-1], flat[:, 1:-1, 1:-1])
    step = torch.zeros(3, 6, 6)
    step[:, :, 3:] = 1.0
    edges = convolve3x3(step, KERNELS["outline"])
    assert edges[:, 2, 3].min() > 0.9 and edges[:, 2, 1].max() == 0


def test_the_cli_takes_a_matrix_with_negative_numbers(tmp_path):
    Image.fromarray(np.full((9, 11, 3), 128, np.uint8)).save(tmp_path / "in.png")
    result = CliRunner().invoke(cli.cli, ["filter", str(tmp_path / "in.png"), "-o",
                                          str(tmp_path / "out.png"), "--matrix",
                                          "-1,-1,-1,-1,8,-1,-1,-1,-1"])
    assert result.exit_code == 0, result.output
    out = np.asarray(Image.open(tmp_path / "out.png"))
    assert out.shape == (9, 11, 3) and out[4, 5].max() == 0 and out[0, 0].min() > 0


@pytest.mark.parametrize("kwargs, message", [
    ({}, "give --kernel"),
    ({"kernel": "blur", "matrix": (1,) * 9}, "give --kernel"),
    ({"matrix": (1, 2, 3)}, "needs 9 numbers"),
    ({"kernel": "glow"}, "--kernel must be one of"),
])
def test_bad_kernels_are_named(kwargs, message, tmp_path):
    with pytest.raises(InputError, match=message):
        FilterSpec(image="x.png", output=str(tmp_path / "o.png"), **kwargs).validate()
