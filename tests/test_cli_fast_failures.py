"""A wrong argument or a missing file is reported before torch loads: each command below runs
with a `torch` on the path that refuses to import, so it must print its own message (and exit
with the input-error code) without ever reaching a heavy import."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = str(ROOT / "latentfx" / "samples" / "chelsea.jpg")

CASES = [
    (["walk", SAMPLE, "nope.jpg", "-o", "w.mp4"], "nope.jpg: no such file"),
    (["walk", SAMPLE, SAMPLE, "-o", "e4.avi"], "unknown video extension '.avi'"),
    (["walk", SAMPLE, "seed:3", "-o", "w.mp4", "-m", "nomodel.safetensors"],
     "no such model file"),
    (["walk", "--random", "-o", "w.gif", "--keys", "1"], "--keys must be at least 2"),
    (["walk", SAMPLE, "missing.safetensors:a.png", "-o", "w.mp4"],
     "missing.safetensors: no such file"),
    (["reconstruct", "nope.jpg", "-o", "r.png"], "nope.jpg: no such file"),
    (["inspect", "nope.jpg", "-o", "i.png"], "nope.jpg: no such file"),
    (["mix", SAMPLE, "nope.jpg", "-o", "m.png"], "nope.jpg: no such file"),
    (["sample", "-n", "4", "-o", "s.png", "-m", "nomodel"], "no such model file"),
    (["map", "nope.safetensors", "-o", "m.png"], "nope.safetensors: no such file"),
    (["neighbors", SAMPLE, "--store", "nope.safetensors", "-o", "n.png"],
     "nope.safetensors: no such file"),
    (["vector", "--store", "nope.safetensors", "--attr", "x", "-o", "v.safetensors"],
     "nope.safetensors: no such file"),
    (["apply", SAMPLE, "--vec", "nope:2", "-o", "a.png"], "no attribute vector 'nope'"),
    (["transfer", SAMPLE, "-o", "out.xyz"], "unknown extension '.xyz'"),
    (["encode", str(ROOT / "latentfx" / "samples"), "-o", "s.safetensors", "-m", "nomodel"],
     "no such model file"),
    (["info", "nomodel"], "no such model file"),
    (["rerender", "nope.json", "-o", "x.mp4"], "nope.json: no such manifest"),
]


@pytest.fixture(scope="module")
def torchless_path(tmp_path_factory):
    """A folder whose `torch` package raises ImportError when imported."""
    folder = tmp_path_factory.mktemp("torchless")
    (folder / "torch").mkdir()
    (folder / "torch" / "__init__.py").write_text("raise ImportError('torch was imported')\n")
    return folder


@pytest.mark.parametrize("args,message", CASES, ids=[" ".join(a[:2]) for a, _ in CASES])
def test_reported_before_torch_loads(args, message, torchless_path, tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "cli.py"), *args], cwd=tmp_path,
                            env={"PYTHONPATH": str(torchless_path), "PATH": "/usr/bin:/bin"},
                            capture_output=True, text=True, timeout=60)
    assert "torch was imported" not in result.stderr, result.stderr
    assert message in result.stderr, result.stderr
    assert result.returncode == 3, result.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written
