"""What foreign autoencoders cost per frame: encode and decode time and peak memory at each
size, for each kind, through latentfx (the same path `-m` takes).

Each kind's autoencoder is built from its bundled config (the real architecture) with random
weights, written in the layout users have on disk (an LDM file for the AutoencoderKLs, the
reference encoder and decoder halves for the TAESD family) and loaded with load_model, so
the time is that of the real sizes; random weights cost what trained ones do. Each
measurement runs in a fresh process, so its peak memory is its own: on the CPU the rise of the
process's high-water mark over what it held before the timed frames, on a GPU the
allocator's peak over what it held then.

    python benchmarks/foreign.py [--kinds sd,sdxl,sd3,flux,taesd,taesd3] [--sizes 256,512]
                                 [--device cpu|cuda] [--repeat 3] [--work DIR]

One frame at a time (batching did not help on the CPU). fp32 on the CPU; on CUDA the
precision load_model chooses (float16, but float32 for SDXL).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the layout writers the tests use

KL_KINDS = ("sd", "sdxl", "sd3", "flux")
TINY_KINDS = ("taesd", "taesdxl", "taesd3", "taef1")

# Runs in a fresh process: load, one warm-up, then `repeat` timed frames of one half.
MEASURE = """
import json, sys, time
sys.path.insert(0, {root!r})
import torch
from latentfx.models.loading import load_model

def status_kib(field):
    status = open("/proc/self/status").read()
    return int(status.split(field + ":")[1].split()[0])

def reset_peak():
    # Linux: writing 5 to clear_refs resets the high-water mark to the current footprint, so
    # loading (random init plus the loaded copy) does not hide the activations.
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    return status_kib("VmRSS") * 1024

model, info = load_model({model!r}, device={device!r}, vae_kind={kind!r}, decoder={decoder!r})
cuda = model.device.type == "cuda"
sync = torch.cuda.synchronize if cuda else (lambda: None)
# One half per process: a caching allocator keeps what the other half freed.
if {half!r} == "encode":
    x = torch.rand(1, 3, {size}, {size}, device=model.device)
    step = lambda: model.encode(x).mode()
else:
    z = torch.randn(1, *model.latent_shape({size}, {size}), device=model.device)
    step = lambda: model.decode(z)
with torch.inference_mode():
    if cuda:
        torch.cuda.empty_cache(); torch.cuda.reset_peak_memory_stats()
        loaded = torch.cuda.memory_allocated()
    else:
        loaded = reset_peak()
    step(); sync()  # warm-up (its allocations are the peak: later frames reuse them)
    started = time.perf_counter()
    for _ in range({repeat}):
        step()
    sync()
    seconds = (time.perf_counter() - started) / {repeat}
    peak = torch.cuda.max_memory_allocated() if cuda else status_kib("VmHWM") * 1024
result = {{"seconds": seconds, "peak_mib": max(0, peak - loaded) / 2**20}}
result["threads"] = torch.get_num_threads()
result["dtype"] = str(model.dtype)
print(json.dumps(result))
"""


def write_model(kind: str, folder: Path) -> tuple[str, str | None, str | None]:
    """(-m, --vae-kind, --decoder) of a random-weight model of `kind` in its file layout."""
    import torch
    from diffusers import AutoencoderKL, AutoencoderTiny

    from foreign_models import write_ldm, write_taesd
    from latentfx.models.foreign.kinds import bundled_config
    from latentfx.models.foreign.weights import _arguments

    torch.manual_seed(0)
    if kind in KL_KINDS:
        path = folder / f"{kind}_vae.safetensors"
        if not path.exists():
            write_ldm(AutoencoderKL(**_arguments(AutoencoderKL, bundled_config(kind))), path)
        return str(path), kind, None
    encoder = folder / kind / f"{kind}_encoder.safetensors"
    if not encoder.exists():
        write_taesd(AutoencoderTiny(**_arguments(AutoencoderTiny, bundled_config(kind))),
                    folder / kind, name=kind)
    return str(encoder), None, str(encoder.with_name(f"{kind}_decoder.safetensors"))


def measure(kind: str, size: int, *, device: str, repeat: int, work: Path) -> dict:
    model, vae_kind, decoder = write_model(kind, work)
    result = {}
    for half in ("encode", "decode"):
        code = MEASURE.format(root=str(ROOT), model=model, kind=vae_kind, decoder=decoder,
                              device=device, size=size, repeat=repeat, half=half)
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"{kind} {half} at {size}: {done.stderr[-2000:]}")
        result.update({half: json.loads(done.stdout.strip().splitlines()[-1])})
    result.update(threads=result["decode"].pop("threads"), dtype=result["decode"].pop("dtype"))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kinds", default="sd,sdxl,sd3,flux,taesd,taesd3")
    parser.add_argument("--sizes", default="256,512")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--work", type=Path, default=None,
                        help="Folder for the random-weight model files (kept for reruns).")
    args = parser.parse_args()
    kinds = [k for k in args.kinds.split(",") if k]
    unknown = [k for k in kinds if k not in KL_KINDS + TINY_KINDS]
    if unknown:
        parser.error(f"unknown kind(s) {unknown}; choose from {', '.join(KL_KINDS + TINY_KINDS)}")
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as scratch:
        work = args.work or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        rows = []
        print(f"{'kind':<9}{'size':>6}  {'encode s':>9} {'MiB':>7}  {'decode s':>9} {'MiB':>7}"
              f"  threads  dtype")
        for kind in kinds:
            for size in sizes:
                r = measure(kind, size, device=args.device, repeat=args.repeat, work=work)
                rows.append({"kind": kind, "size": size, "device": args.device, **r})
                print(f"{kind:<9}{size:>6}  {r['encode']['seconds']:>9.3f} "
                      f"{r['encode']['peak_mib']:>7.0f}  {r['decode']['seconds']:>9.3f} "
                      f"{r['decode']['peak_mib']:>7.0f}  {r['threads']:>7}  {r['dtype']}",
                      flush=True)
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
