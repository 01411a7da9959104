"""DESIGN §1: cli -> workers -> pipelines -> latentfx; no room imports an outer one."""

import pkgutil
import subprocess
import sys

import pytest

from conftest import ROOT

FORBIDDEN = {
    "latentfx": ["cli", "pipelines", "workers", "celery", "click", "redis"],
    "pipelines": ["cli", "workers", "celery", "click", "redis"],
    "workers": ["cli"],  # (Celery itself brings click along)
}


def modules_of(package: str) -> list[str]:
    """Every module of a room, so that a new module is checked without editing this test."""
    return [package] + sorted(m.name for m in pkgutil.walk_packages([str(ROOT / package)],
                                                                       prefix=f"{package}."))


MODULES = {room: modules_of(room) for room in FORBIDDEN}


@pytest.mark.parametrize("room", FORBIDDEN)
def test_rooms_import_only_inward(room):
    imports = "; ".join(f"import {m}" for m in MODULES[room])
    code = (f"import sys; {imports}; "
            f"bad = [m for m in {FORBIDDEN[room]!r} if m in sys.modules]; "
            f"print(bad); assert not bad")
    # Exercise the lazy imports too: building and running a tiny model must stay inside.
    if room == "latentfx":
        code += ("; from latentfx.models import ModelConfig, build_model; import torch; "
                 "build_model(ModelConfig()).reconstruct(torch.rand(1, 3, 8, 8)); "
                 f"assert not [m for m in {FORBIDDEN[room]!r} if m in sys.modules]")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_nothing_touches_cuda_at_import():
    # On a machine without a GPU CUDA can never initialise, so make any attempt to ask for it
    # fail loudly instead: importing the rooms must not query or initialise CUDA.
    code = ("import torch\n"
            "def refuse(*a, **k): raise AssertionError('CUDA touched at import')\n"
            "torch.cuda.is_available = refuse; torch.cuda._lazy_init = refuse\n"
            "torch.cuda.init = refuse; torch.cuda.device_count = refuse\n"
            "import cli\n" + "".join(f"import {m}\n" for room in MODULES.values() for m in room))
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
