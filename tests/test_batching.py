import pytest
import torch

from latentfx.runtime.oom import halving_batches, map_batches


def test_out_of_memory_halves_the_batch_and_keeps_every_item():
    seen = []

    def fn(x):
        seen.append(x.shape[0])
        if x.shape[0] > 3:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")
        return x * 2

    items = torch.arange(10.0)
    out = map_batches(fn, items, batch=16)
    assert torch.equal(out, items * 2)
    assert seen[:3] == [10, 8, 4] and max(seen[3:]) <= 2


def test_other_errors_and_oom_at_batch_one_are_raised():
    with pytest.raises(ValueError):
        map_batches(lambda x: (_ for _ in ()).throw(ValueError("bad")), torch.ones(3), batch=2)

    def always_oom(x):
        raise RuntimeError("CUDA out of memory")

    with pytest.raises(RuntimeError, match="out of memory"):
        map_batches(always_oom, torch.ones(3), batch=4)


def test_progress_reports_each_batch():
    calls = []
    map_batches(lambda x: x, torch.ones(5), batch=2, progress=lambda d, t, m: calls.append((d, t)))
    assert calls == [(2, 5), (4, 5), (5, 5)]


def test_halving_batches_cover_a_range_lazily_and_keep_the_smaller_batch():
    asked = []

    def fn(first, last):
        asked.append((first, last))
        if last - first > 2:
            raise RuntimeError("CUDA out of memory")
        return list(range(first, last))

    batches = halving_batches(fn, 3, 10, batch=4)
    assert next(batches) == (3, 5, [3, 4]) and asked == [(3, 7), (3, 5)]  # nothing ahead
    assert list(batches) == [(5, 7, [5, 6]), (7, 9, [7, 8]), (9, 10, [9])]
