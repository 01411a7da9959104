"""What decoding costs on a CPU, said before a long job starts.

An SD-class AutoencoderKL decoder costs about 2.5 TFLOP per 512x512 frame: about 35 s a frame
on a 2-core CPU (fp32, 2 threads; batching does not help there), where a TAESD decoder takes
about 1.7 s and latentfx's default model 0.15 s. The FLOPs are counted on the model itself
(a tiny probe decode, scaled by the pixel count: every layer is a convolution but the one
attention block, which is small beside them), the rate is that measurement's.
"""

from __future__ import annotations

import torch

from latentfx.models.foreign.kinds import KINDS, kind_for_channels

# FLOP/s of one CPU thread decoding in float32: 2.5 TFLOP in 35 s on 2 threads.
CPU_FLOPS_PER_THREAD = 36e9
SLOW_SECONDS = 5.0  # per frame: above this, a job on the CPU says so up front
PROBE = 8  # latent pixels per side of the probe decode


def decode_flops(model, height: int, width: int) -> float:
    """FLOPs of decoding one (height, width) frame."""
    from torch.utils.flop_counter import FlopCounterMode

    c = model.config.latent_channels
    z = torch.zeros(1, c, PROBE, PROBE, device=model.device)
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model.decode_raw(z)
    f = model.config.factor
    return counter.get_total_flops() * height * width / (PROBE * f) ** 2


def cpu_notice(model, *, height: int, width: int, frames: int) -> str | None:
    """What a job decoding `frames` frames will take on this CPU, with the faster ways, when
    it is slow; None when it is not (or the model is not on the CPU)."""
    if model.device.type != "cpu" or not hasattr(model, "sides"):
        return None
    flops = decode_flops(model, height, width)
    threads = torch.get_num_threads()
    seconds = flops / (CPU_FLOPS_PER_THREAD * threads)
    if seconds < SLOW_SECONDS:
        return None
    text = (f"decoding a {width}x{height} frame with this decoder costs about "
            f"{flops / 1e12:.2g} TFLOP: about {seconds:.0f} s a frame on {threads} CPU "
            f"thread(s), {_duration(seconds * frames)} for {frames} frames. ")
    if model.sides["decoder"].cls == "AutoencoderKL":
        kind = KINDS.get(model.description.get("kind") or "") or \
            kind_for_channels(model.description["latent_channels"])
        text += (f"For previews, decode with the matching TAESD decoder (--decoder "
                 f"{kind.tiny}_decoder.safetensors, about 20 times faster); ")
    return text + "render the final on the farm's GPUs (--submit)."


def say_cost(model, size: tuple[int, int], frames: int, progress) -> None:
    """Through `progress`, before the first frame: what decoding `frames` frames of `size`
    (width, height) will take, when the decoder is slow on this CPU (walks, degrees)."""
    from latentfx.options import NOTE

    notice = cpu_notice(model, height=size[1], width=size[0], frames=frames) if progress else None
    if notice:
        progress(0, frames, NOTE + notice)


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"
