"""Decoded batches for a model: the same pictures, in order, however decoding is scheduled."""

import pytest
import torch
from PIL import Image

from latentfx.images.batches import decoded_batches
from latentfx.images.loading import image_to_tensor, load_image
from latentfx.images.resizing import fit_to

CPU, ELSEWHERE = torch.device("cpu"), torch.device("meta")  # "meta": any non-CPU device


@pytest.fixture
def pictures(tmp_path):
    """Seven pictures of assorted sizes (one needs no resampling) and one unreadable file."""
    paths = []
    for i, size in enumerate([(16, 16), (40, 20), (20, 40), (33, 17), (16, 16), (64, 64),
                              (16, 30)]):
        path = tmp_path / f"{i}.png"
        Image.effect_noise(size, 60 + 10 * i).convert("RGB").save(path)
        paths.append(path)
    (tmp_path / "bad.png").write_bytes(b"\x89PNG but not really")
    paths.insert(3, tmp_path / "bad.png")
    return paths


def collect(paths, **how):
    positions, pictures, failures = [], [], []
    for batch_positions, batch, batch_failures in decoded_batches(paths, (16, 16), "crop",
                                                                  batch=3, **how):
        assert batch is None or batch.shape == (len(batch_positions), 3, 16, 16)
        positions += batch_positions
        pictures += list(batch) if batch is not None else []
        failures += batch_failures
    return positions, pictures, failures


@pytest.mark.parametrize("how", [dict(workers=None, device=CPU), dict(workers=2, device=CPU),
                                 dict(workers=0, device=CPU), dict(workers=1, device=ELSEWHERE),
                                 dict(workers=0, device=ELSEWHERE)],
                         ids=["cpu-auto", "cpu-threads", "cpu-inline", "processes", "inline"])
def test_every_schedule_gives_the_same_pictures_in_order(pictures, how):
    positions, decoded, failures = collect(pictures, **how)
    assert positions == [0, 1, 2, 4, 5, 6, 7]
    assert [i for i, _ in failures] == [3] and "not a readable image" in failures[0][1]
    for i, picture in zip(positions, decoded):
        expected = fit_to(image_to_tensor(load_image(pictures[i])), 16, 16, "crop")
        assert torch.equal(picture, expected), pictures[i].name


def test_a_batch_where_nothing_decodes_still_reports_its_files(tmp_path):
    bad = [tmp_path / f"{i}.jpg" for i in range(3)]
    for path in bad:
        path.write_bytes(b"")
    batches = list(decoded_batches(bad, (8, 8), "crop", batch=3, workers=2, device=CPU))
    assert [(p, x, [i for i, _ in f]) for p, x, f in batches] == [([], None, [0, 1, 2])]


def test_a_query_picture_is_decoded_exactly_as_in_a_batch(tmp_path):
    """A JPEG much larger than the wanted size is decoded at a reduced scale in a batch; a
    query (neighbors, degrees) must get the very same pixels, or a pool image would not be at
    distance 0 from itself."""
    from latentfx.images.batches import fitted_picture

    path = tmp_path / "big.jpg"
    Image.effect_noise((200, 120), 40).convert("RGB").save(path, quality=90)
    (_, batch, _), = decoded_batches([path], (32, 32), "crop", batch=4, workers=0, device=CPU)
    query = fitted_picture(path, (32, 32), "crop")
    assert query.shape == (3, 32, 32) and torch.equal(query, batch[0])
    full_decode = fit_to(image_to_tensor(load_image(path)), 32, 32, "crop")
    assert not torch.equal(query, full_decode)  # what queries used to get
