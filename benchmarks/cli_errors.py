"""How fast the CLI reports a wrong argument or a missing file, against `--help` and against
importing torch (what every such error cost when the check came after the heavy imports).

    python benchmarks/cli_errors.py [--repeat 3]

Prints, per command, the best of --repeat wall times and its ratio to `import torch` taken in
the same run; the target is under 1 s on a quiet 2-core machine."""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = str(ROOT / "latentfx" / "samples" / "chelsea.jpg")

COMMANDS = {
    "--help": ["walk", "--help"],
    "unknown video extension": ["walk", SAMPLE, SAMPLE, "-o", "e4.avi"],
    "missing keyframe": ["walk", SAMPLE, "nope.jpg", "-o", "w.mp4"],
    "missing model": ["sample", "-n", "4", "-o", "s.png", "-m", "nomodel.safetensors"],
    "missing store": ["neighbors", SAMPLE, "--store", "nope.safetensors", "-o", "n.png"],
    "bad option value": ["walk", SAMPLE, SAMPLE, "-o", "w.mp4", "--fps", "0"],
}


def best_time(argv: list[str], repeat: int, cwd: str) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(argv, cwd=cwd, capture_output=True)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as cwd:
        torch_import = best_time([sys.executable, "-c", "import torch"], opts.repeat, cwd)
        print(f"{'import torch':28s} {torch_import:6.2f} s")
        for label, args in COMMANDS.items():
            seconds = best_time([sys.executable, str(ROOT / "cli.py"), *args], opts.repeat, cwd)
            print(f"{label:28s} {seconds:6.2f} s  {seconds / torch_import:5.2f}x import torch")
    return 0


if __name__ == "__main__":
    sys.exit(main())
