"""The chunk protocol (pipelines.chunks): every chunked job implements it by the same names,
and rendering in frame ranges then assembling gives what a local run gives, frames and
manifest alike (the farm's harness checks the same through real workers in test_farm)."""

import inspect
import json

import numpy as np
import pytest
from PIL import Image

from latentfx.video.reader import read_frames
from pipelines import chunks, transfer_video, walk
from pipelines.registry import JOBS

CHUNKED = [kind for kind in JOBS.values() if kind.chunked]
STEPS = ("frame_count", "prepare", "render_frames", "assemble")


def test_walks_and_video_transfers_are_the_chunked_jobs():
    assert sorted(kind.name for kind in CHUNKED) == ["transfer-video", "walk"]


def shape(function, *, drop_self=False) -> list:
    """How a function is called: positional parameters by kind, keyword-only ones by name."""
    params = list(inspect.signature(function).parameters.values())[drop_self:]
    return [p.name if p.kind is p.KEYWORD_ONLY else p.kind for p in params]


@pytest.mark.parametrize("kind", CHUNKED, ids=lambda kind: kind.name)
def test_every_chunked_job_implements_the_protocol_by_its_names(kind):
    module = kind.module
    assert isinstance(module, chunks.ChunkedJob)
    for step in STEPS:
        assert shape(getattr(module, step)) == \
            shape(getattr(chunks.ChunkedJob, step), drop_self=True), step


def render_in_chunks(module, spec, folder, *, chunk_frames: int):
    """What the farm does with a checked spec, in one process: plan, prepare, render each
    range to PNG files, keep the facts as JSON, assemble."""
    total = module.frame_count(spec)
    prepared = module.prepare(spec)
    assert isinstance(prepared, chunks.Prepared) and prepared.frame_count == total
    facts = json.loads(json.dumps(prepared.facts()))
    folder.mkdir()
    for start in range(0, total, chunk_frames):
        module.render_frames(prepared, start, min(total, start + chunk_frames),
                             write=lambda i, pixels: Image.fromarray(pixels).save(
                                 folder / f"{i:06d}.png"))
    files = sorted(folder.glob("*.png"))
    assert len(files) == total
    return module.assemble(spec, files, facts=facts)


def results(output) -> dict:
    return json.loads(output.with_name(output.name + ".latentfx.json").read_text())["results"]


@pytest.mark.parametrize("look", [{"residual": True, "pacing": "uniform", "interp": "spline"},
                                  {"compare": True, "size": (33, 25)}],
                         ids=["residual-uniform", "compare-odd-size"])
def test_a_walk_in_chunks_equals_the_local_run_keyframe_psnr_included(
        tiny_spatial_model, shapes_folder, tmp_path, look):
    keys = [str(shapes_folder / f"shape_{i:06d}.png") for i in (1, 2, 5)]
    options = dict(keyframes=keys, model=str(tiny_spatial_model), device="cpu", frames=5,
                   hold=1, **look)
    local = walk.run(walk.WalkSpec(output=str(tmp_path / "local.mp4"), **options))
    spec = walk.WalkSpec(output=str(tmp_path / "chunked.mp4"), **options).checked()
    chunked = render_in_chunks(walk, spec, tmp_path / "frames", chunk_frames=4)

    assert np.array_equal(read_frames(tmp_path / "chunked.mp4"),
                          read_frames(tmp_path / "local.mp4"))
    ours, theirs = results(tmp_path / "chunked.mp4"), results(tmp_path / "local.mp4")
    assert ours["keyframe_psnr"] == theirs["keyframe_psnr"]
    assert all(p is not None for p in theirs["keyframe_psnr"])
    for key in ("frames", "size", "keyframe_frames", "step_spread", "notes"):
        assert ours[key] == theirs[key], key
    assert chunked.keyframe_psnr == local.keyframe_psnr and chunked.notes == local.notes
    if "size" in look:  # odd sizes are rounded for yuv420p, and the note says so
        assert theirs["notes"]


def test_a_video_transfer_in_chunks_equals_the_local_run(tiny_vector_model, tmp_path):
    from test_transfer import make_video

    source = make_video(tmp_path / "in.mp4", frames=9, fps=9, sound=False, noise=6.0)
    # A vector model cannot align its latents to the motion: preparing notes it.
    options = dict(input=str(source), model=str(tiny_vector_model), smooth=3, batch=2,
                   device="cpu")
    local = transfer_video.run(transfer_video.VideoTransferSpec(
        output=str(tmp_path / "local/"), **options))
    spec = transfer_video.VideoTransferSpec(output=str(tmp_path / "chunked/"),
                                            **options).checked()
    chunked = render_in_chunks(transfer_video, spec, tmp_path / "frames", chunk_frames=4)

    ours, theirs = (read_frames(str(tmp_path / name / "%05d.png")).astype(int)
                    for name in ("chunked", "local"))
    assert ours.shape == theirs.shape and np.abs(ours - theirs).max() <= 1
    assert chunked.notes == local.notes and any("motion" in n for n in local.notes)
    ours, theirs = results(tmp_path / "chunked"), results(tmp_path / "local")
    for key in ("frames", "fps", "size", "notes"):
        assert ours[key] == theirs[key], key
