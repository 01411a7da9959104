"""X Degrees of Separation on pictures with one known continuous factor: a disc's position.
Position is what the latents hold place by place and what pooled features leave out, so the
chains that must follow it compare latents (--features latent)."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

import cli
from latentfx.datasets.shapes import ShapeFactors, render
from latentfx.video.reader import read_frames
from pipelines import encode


def invoke(*args):
    return CliRunner().invoke(cli.cli, [str(a) for a in args], catch_exceptions=False)


def disc(folder, x, *, background="dark", kind="circle"):
    path = folder / f"{kind}_{background}_x{x:.4f}.png"
    render(ShapeFactors(kind=kind, colour="red", background=background, size=0.2, x=x, y=0.5),
           size=32).save(path)
    return path


def position(path) -> float:
    return float(str(path).rsplit("_x", 1)[1][:-4])


@pytest.fixture(scope="module")
def sliding(tmp_path_factory, tiny_spatial_model):
    """A pool of 41 discs sliding from left to right, its store, and two ends outside it."""
    base = tmp_path_factory.mktemp("degrees")
    pool = base / "pool"
    pool.mkdir()
    for x in np.linspace(0.25, 0.75, 41):
        disc(pool, x)
    ends = base / "ends"
    ends.mkdir()
    store = base / "pool.safetensors"
    encode.run(encode.EncodeSpec(folder=str(pool), output=str(store),
                                 model=str(tiny_spatial_model), size=(32, 32), workers=0,
                                 device="cpu"))
    return base, pool, store, disc(ends, 0.22), disc(ends, 0.78)


def render_options(model):
    return ["--frames", 2, "--hold", 1, "-m", model, "--device", "cpu"]


def test_a_chain_follows_the_factor_in_small_steps(sliding, tiny_spatial_model):
    base, pool, _, start, end = sliding
    out = base / "chain.mp4"
    result = invoke("degrees", start, end, "--pool", pool, "-n", 12, "-o", out,
                    "--sheet", base / "chain.png", "--features", "latent",
                    *render_options(tiny_spatial_model))
    assert result.exit_code == 0, result.output
    manifest = json.loads((base / "chain.mp4.latentfx.json").read_text())
    chain = manifest["results"]["chain"]
    xs = [position(link["path"]) for link in chain]
    assert len(chain) - 2 in (11, 12, 13)
    assert xs == sorted(xs) and xs[0] == pytest.approx(0.22) and xs[-1] == pytest.approx(0.78)
    assert [link["in_pool"] for link in chain] == [False] + [True] * (len(chain) - 2) + [False]
    largest = manifest["results"]["largest_step"]
    assert largest < manifest["results"]["direct"] / 3
    assert f"largest step {largest:.3g}" in result.stdout
    # Every real image rests for --hold frames and each morph takes --frames.
    assert len(read_frames(out)) == (len(chain) - 1) * 2 + 1 + len(chain)
    assert (base / "chain.png").exists()
    assert manifest["results"]["features"] == "latent"
    # The same pool and ends again: the neighbour graph is read back, and the chain is the same.
    again = invoke("degrees", start, end, "--pool", pool, "-n", 12, "-o", base / "again.mp4",
                   "--features", "latent", *render_options(tiny_spatial_model))
    assert again.exit_code == 0, again.output
    repeat = json.loads((base / "again.mp4.latentfx.json").read_text())
    assert repeat["timings"]["graph_from_cache"] and repeat["results"]["chain"] == chain


def test_switching_features_never_reads_another_feature_s_graph(sliding, tiny_spatial_model):
    base, pool, store, start, end = sliding
    runs = {}
    for n, features in enumerate(["latent", "pooled", "pooled", "latent"]):
        out = base / f"switch{n}.mp4"
        result = invoke("degrees", start, end, "--pool", store, "-n", 4, "-o", out,
                        "--features", features, *render_options(tiny_spatial_model))
        assert result.exit_code == 0, result.output
        manifest = json.loads((base / f"switch{n}.mp4.latentfx.json").read_text())
        cached = manifest["timings"]["graph_from_cache"]
        # The first run of each features builds its graph; a repeat reads it back unchanged.
        assert cached == (features in runs), (n, features)
        assert manifest["results"]["features"] == {"latent": "latent",
                                                   "pooled": "pooled/1"}[features]
        if features in runs:
            assert manifest["results"]["chain"] == runs[features]
        runs[features] = manifest["results"]["chain"]
    # Distances in the two spaces are not the same numbers.
    assert [l["step"] for l in runs["latent"]] != [l["step"] for l in runs["pooled"]]


def test_waypoints_are_visited_and_exclusions_avoided(sliding, tiny_spatial_model):
    base, pool, store, start, end = sliding
    via = sorted(pool.glob("*x0.6*.png"))[0]      # a pool image: it is used as it is
    result = invoke("degrees", start, end, "--pool", store, "-n", 8, "--via", via,
                    "--exclude", "*x0.4*", "-o", base / "via.mp4", "--features", "latent",
                    *render_options(tiny_spatial_model))
    assert result.exit_code == 0, result.output
    chain = json.loads((base / "via.mp4.latentfx.json").read_text())["results"]["chain"]
    paths = [link["path"] for link in chain]
    assert str(via) in paths
    assert not any("x0.4" in p for p in paths)
    xs = [position(p) for p in paths]
    assert xs == sorted(xs)
    assert len(set(paths)) == len(paths)


def test_islands_get_a_clear_message(tmp_path, tiny_spatial_model):
    pool = tmp_path / "pool"
    pool.mkdir()
    for x in np.linspace(0.3, 0.7, 8):
        disc(pool, x, background="dark")
        disc(pool, x, background="light", kind="square")
    start = disc(tmp_path, 0.25, background="dark")
    end = disc(tmp_path, 0.75, background="light", kind="square")
    result = invoke("degrees", start, end, "--pool", pool, "-k", 2, "-o", tmp_path / "c.mp4",
                    *render_options(tiny_spatial_model), "--size", "32x32")
    assert result.exit_code == 3, result.output
    assert "island" in result.output and start.name in result.output
    needed = int(result.output.split("-k ")[1].split()[0])
    assert needed > 2
    joined = invoke("degrees", start, end, "--pool", pool, "-k", needed, "-o",
                    tmp_path / "c.mp4", *render_options(tiny_spatial_model), "--size", "32x32")
    assert joined.exit_code == 0, joined.output


def test_bad_degrees_options_are_named(sliding, tiny_vector_model, tiny_spatial_model,
                                      tmp_path):
    base, pool, store, start, end = sliding
    other_model = invoke("degrees", start, end, "--pool", store, "-o", tmp_path / "x.mp4",
                         "-m", tiny_vector_model)
    assert other_model.exit_code == 3 and "encode the folder again" in other_model.output
    same = invoke("degrees", start, start, "--pool", store, "-o", tmp_path / "x.mp4",
                  *render_options(tiny_spatial_model))
    assert same.exit_code == 3 and "already a stop" in same.output


def test_a_store_finds_its_images_from_anywhere_and_the_farm_checks_that_folder(
        sliding, tiny_spatial_model, tmp_path, monkeypatch):
    from pipelines.degrees import DegreesSpec
    from workers.paths import input_paths

    base, pool, store, start, end = sliding
    monkeypatch.chdir(tmp_path)  # not where the store was made
    result = invoke("degrees", start, end, "--pool", store, "-n", 3, "-o", "here.mp4",
                    *render_options(tiny_spatial_model))
    assert result.exit_code == 0, result.output
    spec = {"start": str(start), "end": str(end), "pool": str(store), "via": []}
    assert ("store's image folder", str(pool.resolve())) in input_paths(DegreesSpec, spec)
    spec["folder"] = str(pool)
    assert all(field != "store's image folder"
               for field, _ in input_paths(DegreesSpec, spec))


def test_degrees_loads_the_model_once_and_writes_one_manifest(sliding, tiny_spatial_model,
                                                             monkeypatch):
    import latentfx.io.manifests
    import latentfx.models.loading
    from pipelines import degrees

    loads, manifests = [], []
    load_model, write_manifest = (latentfx.models.loading.load_model,
                                  latentfx.io.manifests.write_manifest)

    def counting_load(*args, **kwargs):
        loads.append(args)
        return load_model(*args, **kwargs)

    def recording_write(output, *, job, **fields):
        manifests.append(job)
        return write_manifest(output, job=job, **fields)

    monkeypatch.setattr(latentfx.models.loading, "load_model", counting_load)
    monkeypatch.setattr(latentfx.io.manifests, "write_manifest", recording_write)
    base, pool, _, start, end = sliding
    out = base / "once.mp4"
    # A folder pool: encoded on the fly with the same model.
    result = degrees.run(degrees.DegreesSpec(start=str(start), end=str(end), pool=str(pool),
                                             output=str(out), images=3, frames=2, hold=1,
                                             model=str(tiny_spatial_model), device="cpu"))
    assert len(loads) == 1 and manifests == ["degrees"]
    manifest = json.loads((base / "once.mp4.latentfx.json").read_text())
    assert manifest["job"] == "degrees"
    # What the walk's own manifest used to record is in this one.
    results, timings = manifest["results"], manifest["timings"]
    assert results["frames"] == result.frames == len(read_frames(out))
    assert results["size"] == list(read_frames(out).shape[2:0:-1])
    assert len(results["keyframe_psnr"]) == len(results["chain"])
    assert len(results["keyframe_frames"]) == len(results["chain"])
    # Residuals make every real image of the chain appear as it is.
    assert min(results["keyframe_psnr"]) > 30
    assert timings["render_seconds"] > 0 and timings["frames_per_second"] > 0


def test_degrees_morphs_between_neighbouring_images(sliding, tiny_spatial_model):
    base, pool, _, start, end = sliding
    frames = {}
    for morph in (None, "none"):
        out = base / f"morph-{morph}"
        chosen = [] if morph is None else ["--morph", morph]
        result = invoke("degrees", start, end, "--pool", pool, "-n", 3, "-o", f"{out}/",
                        *chosen, *render_options(tiny_spatial_model))
        assert result.exit_code == 0, result.output
        manifest = json.loads((base / f"morph-{morph}.latentfx.json").read_text())
        assert manifest["spec"]["morph"] == (morph or "flow")
        frames[morph] = read_frames(out / "%05d.png")
    # Held images are the same; the discs between them move rather than fade.
    assert np.array_equal(frames[None][0], frames["none"][0])
    assert not np.array_equal(frames[None], frames["none"])
