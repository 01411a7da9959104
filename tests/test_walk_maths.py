"""Paths, easing, timelines and pacing: the maths of a walk, checked against references."""

import math

import pytest
import torch

from latentfx.errors import InputError
from latentfx.walk.easing import EASINGS, ease
from latentfx.walk.interpolation import KeyframePath, catmull_rom, lerp, slerp
from latentfx.walk.pacing import ArcLength, StepMeter
from latentfx.walk.timeline import allocate, build_timeline, segment_frame_counts


# -- easing ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(EASINGS))
def test_easing_is_monotone_and_hits_the_endpoints(name):
    t = torch.linspace(0, 1, 1001, dtype=torch.float64)
    e = ease(name, t)
    assert e[0] == 0 and e[-1] == 1
    assert torch.all(e[1:] - e[:-1] >= -1e-12)


def test_unknown_easing_is_named():
    with pytest.raises(ValueError, match="bounce"):
        ease("bounce", torch.zeros(1))


# -- slerp -----------------------------------------------------------------------------------

def reference_slerp(a, b, t):
    """Textbook slerp of the directions (Shoemake 1985) with the length interpolated linearly."""
    na, nb = a.norm(), b.norm()
    ua, ub = a / na, b / nb
    omega = torch.arccos(torch.dot(ua, ub).clamp(-1, 1))
    direction = (math.sin((1 - t) * omega) * ua + math.sin(t * omega) * ub) / math.sin(omega)
    return ((1 - t) * na + t * nb) * direction


def test_slerp_matches_the_reference_formula_and_keeps_norms_between_the_keyframes():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(2, 4, 3, 5, generator=g, dtype=torch.float64).float()
    b = b * 2.5  # different norms
    ts = torch.linspace(0, 1, 11)
    z = slerp(a.expand(11, -1, -1, -1), b.expand(11, -1, -1, -1), ts)
    for t, zt in zip(ts, z):
        expected = reference_slerp(a.flatten().double(), b.flatten().double(), float(t))
        assert torch.allclose(zt.flatten().double(), expected, atol=1e-5)
    norms = z.flatten(1).norm(dim=1)
    assert norms.min() >= a.norm() - 1e-4 and norms.max() <= b.norm() + 1e-4
    assert torch.allclose(z[0], a, atol=1e-6) and torch.allclose(z[-1], b, atol=1e-5)


def test_slerp_is_not_a_lerp():
    a, b = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    mid = slerp(a, b, torch.tensor([0.5]))
    assert torch.allclose(mid, torch.tensor([[math.sqrt(0.5), math.sqrt(0.5)]]), atol=1e-6)
    assert not torch.allclose(mid, lerp(a, b, torch.tensor([0.5])))


def test_slerp_of_nearly_parallel_latents_is_finite_and_smooth():
    a = torch.tensor([[1.0, 0.0, 0.0]])
    b = torch.tensor([[1.0, 1e-7, 0.0]]) * 2
    z = slerp(a.expand(5, -1), b.expand(5, -1), torch.linspace(0, 1, 5))
    assert torch.isfinite(z).all()
    assert torch.allclose(z, lerp(a.expand(5, -1), b.expand(5, -1), torch.linspace(0, 1, 5)),
                          atol=1e-5)


def test_slerp_of_opposite_latents_goes_round_a_great_circle():
    a = torch.tensor([[1.0, 0.0, 0.0]])
    ts = torch.linspace(0, 1, 9)
    z = slerp(a.expand(9, -1), -a.expand(9, -1), ts)
    assert torch.isfinite(z).all()
    assert torch.allclose(z.norm(dim=1), torch.ones(9), atol=1e-5)  # never through zero
    assert torch.allclose(z[-1], -a[0], atol=1e-6)
    angles = torch.arccos((z[1:] * z[:-1]).sum(1).clamp(-1, 1))
    assert torch.allclose(angles, torch.full((8,), math.pi / 8), atol=1e-4)  # even steps


# -- splines ---------------------------------------------------------------------------------

def test_catmull_rom_passes_through_its_middle_points():
    p = [torch.tensor([[float(i), float(i * i)]]) for i in range(4)]
    assert torch.allclose(catmull_rom(*p, torch.tensor([0.0])), p[1])
    assert torch.allclose(catmull_rom(*p, torch.tensor([1.0])), p[2])


@pytest.mark.parametrize("loop", [False, True])
def test_spline_path_has_no_kink_at_keyframes(loop):
    keys = torch.tensor([[0.0, 0.0], [1.0, 2.0], [3.0, 1.0], [4.0, 4.0]])
    path = KeyframePath(keys, interp="spline", loop=loop)
    h = 1e-4
    for s in range(1, path.segments):  # the joint at the start of segment s
        before = path.at(torch.tensor([s - 1, s - 1]), torch.tensor([1 - h, 1.0]))
        after = path.at(torch.tensor([s, s]), torch.tensor([0.0, h]))
        assert torch.allclose(before[1], keys[s % len(keys)], atol=1e-5)
        assert torch.allclose(after[0], keys[s % len(keys)], atol=1e-5)
        left, right = (before[1] - before[0]) / h, (after[1] - after[0]) / h
        assert torch.allclose(left, right, rtol=1e-2, atol=1e-2)
    lerp_path = KeyframePath(keys, interp="lerp", loop=loop)
    l_left = (lerp_path.at(torch.tensor([0]), torch.tensor([1.0]))
              - lerp_path.at(torch.tensor([0]), torch.tensor([1 - h]))) / h
    l_right = (lerp_path.at(torch.tensor([1]), torch.tensor([h]))
               - lerp_path.at(torch.tensor([1]), torch.tensor([0.0]))) / h
    assert not torch.allclose(l_left, l_right, atol=1e-2)  # the test can tell a kink


def test_loop_path_closes_on_the_first_keyframe():
    keys = torch.randn(3, 4)
    for interp in ("lerp", "slerp", "spline"):
        path = KeyframePath(keys, interp=interp, loop=True)
        assert path.segments == 3
        assert torch.allclose(path.at(torch.tensor([2]), torch.tensor([1.0]))[0], keys[0],
                              atol=1e-5)


# -- timelines -------------------------------------------------------------------------------

def test_frame_counts_for_paths_and_loops():
    counts = segment_frame_counts(segments=3, loop=False, keyframes=4, fps=24, frames=10)
    timeline = build_timeline(counts, loop=False)
    assert len(timeline) == 10 * 3 + 1
    assert timeline.keyframe_frames == (0, 10, 20, 30)
    assert (timeline.segment[-1], timeline.fraction[-1]) == (2, 1.0)  # the last keyframe
    loop = build_timeline(segment_frame_counts(segments=4, loop=True, keyframes=4, fps=24,
                                               frames=10), loop=True)
    assert len(loop) == 40 and loop.fraction.max() < 1  # no frame repeats the first


def test_hold_adds_copies_of_each_keyframe():
    timeline = build_timeline([4, 4], loop=False, hold=2)
    assert len(timeline) == 4 * 2 + 1 + 3 * 2
    assert timeline.keyframe_frames == (0, 6, 12)
    assert timeline.fraction[:3].tolist() == [0.0, 0.0, 0.0]


def test_duration_and_per_segment_durations():
    counts = segment_frame_counts(segments=3, loop=False, keyframes=4, fps=10, duration=3.1)
    assert sum(counts) + 1 == 31 and max(counts) - min(counts) <= 1
    counts = segment_frame_counts(segments=3, loop=True, keyframes=3, fps=10, duration=3)
    assert sum(counts) == 30
    assert segment_frame_counts(segments=3, loop=False, keyframes=4, fps=10,
                                durations=(2, 1, 0.5)) == [20, 10, 5]


@pytest.mark.parametrize("kwargs, message", [
    (dict(duration=0), "--duration must be positive"),
    (dict(duration=-2), "--duration must be positive"),
    (dict(duration=0.1), "too short"),
    (dict(frames=0), "--frames must be at least 1"),
    (dict(durations=(1, 2)), "--durations has 2 entries"),
    (dict(durations=(1, 2, 0)), "--durations 0"),
    (dict(frames=4, duration=2), "give one of"),
])
def test_bad_timings_are_refused_with_the_option_named(kwargs, message):
    with pytest.raises(InputError, match=message):
        segment_frame_counts(segments=3, loop=False, keyframes=4, fps=10, **kwargs)


def test_fps_zero_is_refused():
    with pytest.raises(InputError, match="--fps must be positive"):
        segment_frame_counts(segments=1, loop=False, keyframes=2, fps=0, frames=3)


def test_allocate_splits_exactly_in_proportion():
    assert allocate(10, [1, 1, 2]) == [3, 3, 4]
    assert sum(allocate(97, [0.3, 0.0, 2.0])) == 97
    assert min(allocate(5, [0.0, 0.0, 1.0])) == 1


# -- pacing ----------------------------------------------------------------------------------

def test_arc_length_evens_out_a_path_that_speeds_up():
    # A "picture" whose value grows with u^3 changes slowly at first, fast at the end.
    def render(segment, u):
        return (u.float() ** 3)[:, None, None, None].expand(-1, 3, 2, 2)

    arc = ArcLength.measure(render, segments=1, samples=64, batch=16)
    fractions = torch.linspace(0, 1, 21, dtype=torch.float64)
    naive, paced = StepMeter(), StepMeter()
    naive.update(render(None, fractions))
    paced.update(render(None, arc.parameter(torch.zeros(21, dtype=torch.long), fractions)))
    assert naive.spread > 0.5
    assert paced.spread < 0.05


def test_step_meter_ignores_held_frames_and_streams():
    frames = torch.tensor([0.0, 1.0, 1.0, 2.0, 3.0, 4.0])[:, None]
    whole, parts = StepMeter(), StepMeter()
    whole.update(frames)
    parts.update(frames[:2])
    parts.update(frames[2:])
    assert whole.spread == pytest.approx(0.0) and parts.spread == pytest.approx(0.0)
