"""Tiny randomly initialised diffusers autoencoders, written in the layouts users have on disk:
one LDM / ComfyUI file, a diffusers folder, TAESD reference halves and ComfyUI's combined
TAESD file. Nothing is downloaded: the models are built from small configs here.

The LDM names are written from the original LDM code's module names (encoder.down.N.block.M,
mid.attn_1.q as a 1x1 conv, decoder.up counted from the lowest resolution), independently of
the diffusers conversion latentfx loads them with.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

KL_LEVELS = (32, 32, 64)  # block_out_channels: latents at 1/4 size, as TINY_LEVELS
TINY_LEVELS = (8, 8, 8)  # latents at 1/4 size


def tiny_kl(channels: int = 4, *, seed: int = 0, quant: bool = True):
    from diffusers import AutoencoderKL

    torch.manual_seed(seed)
    vae = AutoencoderKL(block_out_channels=KL_LEVELS, layers_per_block=1,
                        down_block_types=("DownEncoderBlock2D",) * len(KL_LEVELS),
                        up_block_types=("UpDecoderBlock2D",) * len(KL_LEVELS),
                        latent_channels=channels, norm_num_groups=32,
                        use_quant_conv=quant, use_post_quant_conv=quant)
    _perturb(vae)
    return vae.eval()


def tiny_taesd(channels: int = 4, *, seed: int = 0):
    from diffusers import AutoencoderTiny

    torch.manual_seed(seed)
    vae = AutoencoderTiny(encoder_block_out_channels=TINY_LEVELS,
                          decoder_block_out_channels=TINY_LEVELS, num_encoder_blocks=(1, 2, 1),
                          num_decoder_blocks=(1, 2, 1), latent_channels=channels)
    return vae.eval()


def _perturb(vae) -> None:
    """diffusers starts norms at 1/0 and some convs at 0; random values everywhere make a
    swapped or misplaced weight show in the outputs."""
    with torch.no_grad():
        for p in vae.parameters():
            p.add_(torch.randn_like(p) * 0.05)


def ldm_state_dict(vae, prefix: str = "") -> dict[str, torch.Tensor]:
    levels = len(vae.config.block_out_channels)
    out = {}
    for name, tensor in vae.state_dict().items():
        out[prefix + _ldm_name(name, levels)] = _ldm_shape(name, tensor)
    return out


def _ldm_name(name: str, levels: int) -> str:
    rules = [
        (r"(encoder|decoder)\.conv_norm_out\.", r"\1.norm_out."),
        (r"encoder\.down_blocks\.(\d+)\.resnets\.(\d+)\.", r"encoder.down.\1.block.\2."),
        (r"encoder\.down_blocks\.(\d+)\.downsamplers\.0\.", r"encoder.down.\1.downsample."),
        (r"(encoder|decoder)\.mid_block\.resnets\.(\d+)\.",
         lambda m: f"{m.group(1)}.mid.block_{int(m.group(2)) + 1}."),
        (r"(encoder|decoder)\.mid_block\.attentions\.0\.group_norm\.", r"\1.mid.attn_1.norm."),
        (r"(encoder|decoder)\.mid_block\.attentions\.0\.to_(q|k|v)\.", r"\1.mid.attn_1.\2."),
        (r"(encoder|decoder)\.mid_block\.attentions\.0\.to_out\.0\.", r"\1.mid.attn_1.proj_out."),
        (r"decoder\.up_blocks\.(\d+)\.resnets\.(\d+)\.",
         lambda m: f"decoder.up.{levels - 1 - int(m.group(1))}.block.{m.group(2)}."),
        (r"decoder\.up_blocks\.(\d+)\.upsamplers\.0\.",
         lambda m: f"decoder.up.{levels - 1 - int(m.group(1))}.upsample."),
        (r"\.conv_shortcut\.", ".nin_shortcut."),
    ]
    for pattern, repl in rules:
        name = re.sub(pattern, repl, name)
    return name


def _ldm_shape(name: str, tensor: torch.Tensor) -> torch.Tensor:
    """LDM's attention projections are 1x1 convs; diffusers' are linear layers."""
    if re.search(r"attentions\.0\.(to_q|to_k|to_v|to_out\.0)\.weight", name):
        return tensor[:, :, None, None].contiguous()
    return tensor.contiguous()


def write_ldm(vae, path: Path, *, prefix: str = "", extra: dict | None = None) -> Path:
    from safetensors.torch import save_file

    save_file({**ldm_state_dict(vae, prefix), **(extra or {})}, str(path))
    return path


def write_folder(vae, folder: Path) -> Path:
    vae.save_pretrained(str(folder), safe_serialization=True)
    return folder


def taesd_halves(vae) -> tuple[dict, dict]:
    """(encoder, decoder) state dicts in the reference release's layout: bare Sequential
    indices, the decoder's one more than diffusers' (its layer 0 is a clamp)."""
    enc = {k[len("encoder.layers."):]: v.contiguous() for k, v in vae.state_dict().items()
           if k.startswith("encoder.layers.")}
    dec = {}
    for k, v in vae.state_dict().items():
        if k.startswith("decoder.layers."):
            index, rest = k[len("decoder.layers."):].split(".", 1)
            dec[f"{int(index) + 1}.{rest}"] = v.contiguous()
    return enc, dec


def write_taesd(vae, folder: Path, name: str = "taesd") -> tuple[Path, Path]:
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    enc, dec = taesd_halves(vae)
    paths = folder / f"{name}_encoder.safetensors", folder / f"{name}_decoder.safetensors"
    save_file(enc, str(paths[0]))
    save_file(dec, str(paths[1]))
    return paths


def write_taesd_combined(vae, path: Path) -> Path:
    """ComfyUI's layout: both halves in one file under taesd_encoder. / taesd_decoder."""
    from safetensors.torch import save_file

    enc, dec = taesd_halves(vae)
    save_file({**{f"taesd_encoder.{k}": v for k, v in enc.items()},
               **{f"taesd_decoder.{k}": v for k, v in dec.items()},
               "vae_scale": torch.tensor(1.0), "vae_shift": torch.tensor(0.0)}, str(path))
    return path
