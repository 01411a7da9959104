"""The allocator keeps freed batch buffers for reuse until a job hands them back, and a user's
own allocator settings win."""

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MIB = 1 << 20

# Resident memory (bytes) with a 64 MB buffer held, after freeing it, and after
# release_free_memory, in a fresh process.
RESIDENT = """
import sys
sys.path.insert(0, {root!r})
import numpy as np
from latentfx.runtime.memory import keep_freed_memory_for_reuse, release_free_memory
changed = keep_freed_memory_for_reuse() if {keep} else False
def resident():
    status = open("/proc/self/status").read()
    return int(status.split("VmRSS:")[1].split()[0]) * 1024
buffer = np.ones(64 << 20, dtype=np.uint8)
held = resident()
del buffer
freed = resident()
release_free_memory()
print(changed, held, freed, resident())
"""


def resident(keep: bool, **env) -> tuple[str, int, int, int]:
    done = subprocess.run([sys.executable, "-c", RESIDENT.format(root=str(ROOT), keep=keep)],
                          capture_output=True, text=True, check=True,
                          env={**os.environ, **env})
    changed, *sizes = done.stdout.split()
    return (changed, *map(int, sizes))


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's allocator only")
def test_freed_buffers_stay_for_reuse_until_handed_back(monkeypatch):
    for name in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES"):
        monkeypatch.delenv(name, raising=False)
    _, held, freed, _ = resident(keep=False)
    assert held - freed > 60 * MIB  # glibc's default: unmapped at once, faulted in next time
    changed, held, freed, released = resident(keep=True)
    assert changed == "True" and held - freed < 4 * MIB  # kept for the next batch
    assert held - released > 60 * MIB  # ... until the job hands it back
    assert resident(keep=True, MALLOC_TRIM_THRESHOLD_="131072")[0] == "False"
    assert resident(keep=True, GLIBC_TUNABLES="glibc.malloc.mmap_threshold=65536")[0] == "False"
    assert resident(keep=True, GLIBC_TUNABLES="glibc.pthread.rseq=0")[0] == "True"  # unrelated
