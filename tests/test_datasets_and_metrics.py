import csv

import pytest
import torch

from latentfx.datasets.shapes import COLOURS, factors_for, generate, write_dataset
from latentfx.images.metrics import psnr, ssim


def test_shapes_are_a_pure_function_of_seed_and_index():
    a, fa = generate(5, seed=2, size=32)
    b, fb = generate(5, seed=2, size=32)
    c, _ = generate(6, seed=2, size=32)
    assert a.tobytes() == b.tobytes() and fa == fb and a.tobytes() != c.tobytes()


def test_shape_colour_is_where_the_factors_say():
    for i in range(20):
        img, f = generate(i, size=64)
        centre = img.getpixel((round(f.x * 64), round(f.y * 64)))
        assert max(abs(p - q) for p, q in zip(centre, COLOURS[f.colour])) < 40


def test_labels_csv_matches_the_images(tmp_path):
    write_dataset(tmp_path, 12, seed=3, size=16)
    rows = list(csv.DictReader(open(tmp_path / "labels.csv")))
    assert len(rows) == 12
    for row in rows:
        f = factors_for(int(row["path"][6:12]), seed=3)
        assert row["colour"] == f.colour and row[f"colour_{f.colour}"] == "1"
        assert sum(int(row[f"kind_{k}"]) for k in ("circle", "square", "triangle", "diamond")) == 1


def test_psnr_and_ssim():
    x = torch.rand(3, 32, 32)
    assert psnr(x, x) == float("inf")
    assert psnr(x, (x + 0.1).clamp(0, 1)) == pytest.approx(20.0, abs=1.5)
    assert ssim(x, x) == pytest.approx(1.0)
    assert ssim(x, torch.rand(3, 32, 32)) < 0.2
    tiny = torch.rand(3, 4, 6)  # smaller than the 11x11 window
    assert ssim(tiny, tiny) == pytest.approx(1.0)
