"""One GPU per pool process: `latentfx worker -c N` on a machine with several GPUs gives each
of its N processes its own, instead of every process taking the first.

The choice is made in the pool process as it starts (Celery's worker_process_init), before
anything touches CUDA there (DESIGN §4: CUDA only inside the child): the process's
CUDA_VISIBLE_DEVICES is narrowed to its one GPU, so `auto` and `cuda` in every pipeline mean
that GPU. Which GPUs the machine has is read without CUDA: CUDA_VISIBLE_DEVICES when it is
set (the GPUs this worker was given), else the /dev/nvidiaN device nodes. A pool process
that is replaced (it died) gets the index, and so the GPU, of the one it replaces."""

from __future__ import annotations

import os
import re
from pathlib import Path

VISIBLE = "CUDA_VISIBLE_DEVICES"


def machine_gpus(env: dict, dev: Path = Path("/dev")) -> list[str]:
    """The GPUs this worker may use, as CUDA_VISIBLE_DEVICES names them."""
    given = env.get(VISIBLE)
    if given is not None:
        return [g.strip() for g in given.split(",") if g.strip()]
    nodes = (p.name for p in dev.glob("nvidia*"))
    return [str(n) for n in sorted(int(m[1]) for m in map(re.compile(r"nvidia(\d+)").fullmatch,
                                                        nodes) if m)]


def gpu_for(index: int, gpus: list[str]) -> str | None:
    """The GPU of pool process `index`: round robin, so more processes than GPUs share them
    evenly. None without GPUs (the process runs on the CPU)."""
    return gpus[index % len(gpus)] if gpus else None


def take_gpu(index: int, env: dict = os.environ, dev: Path = Path("/dev")) -> str | None:
    """Narrow `env` (this process's environment) to pool process `index`'s GPU; returns it."""
    gpu = gpu_for(index, machine_gpus(env, dev))
    if gpu is not None:
        env[VISIBLE] = gpu
    return gpu
