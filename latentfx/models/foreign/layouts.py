"""What a foreign autoencoder file or folder holds, read from its tensor names and shapes
alone (the safetensors header: no weights read, no torch), and the diffusers config that
rebuilds it.

Layouts:
  ldm        one file in the LDM / ComfyUI / A1111 key layout (encoder.down.0.block.0...):
             sd-vae-ft-mse, sdxl_vae.safetensors, SD3's and FLUX's ae.safetensors, or a whole
             SD checkpoint whose autoencoder sits under first_stage_model.
  diffusers  a diffusers model folder: config.json and diffusion_pytorch_model.safetensors.
  taesd      the TAESD family (taesd, taesdxl, taesd3, taef1): an encoder or a decoder file of
             the reference release, ComfyUI's combined file (taesd_encoder. / taesd_decoder.)
             or a diffusers AutoencoderTiny weights file (encoder.layers. / decoder.layers.).

The architecture (channels per level, blocks per level, latent channels, quant convs) comes
from the shapes, so any size of either class loads; what shapes cannot tell (the latent's
scale and shift, group-norm groups) comes from the bundled config of the kind.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from latentfx.errors import CheckpointError
from latentfx.models.foreign.kinds import (KINDS, Kind, bundled_config, kinds_with,
                                           with_defaults)

PICKLE_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin", ".pkl")
FOLDER_CONFIG = "config.json"
FOLDER_WEIGHTS = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.fp16.safetensors")
LDM_PREFIXES = ("first_stage_model.", "vae.", "")
TINY_PREFIXES = {"encoder": ("taesd_encoder.", "encoder.layers."),
                 "decoder": ("taesd_decoder.", "decoder.layers.")}
# Keys of the rest of a whole checkpoint that say which model the autoencoder belongs to.
CHECKPOINT_HINTS = (("conditioner.embedders.", "sdxl"), ("cond_stage_model.", "sd"),
                    ("model.diffusion_model.joint_blocks.", "sd3"),
                    ("model.diffusion_model.double_blocks.", "flux"), ("double_blocks.", "flux"))


class AmbiguousKind(CheckpointError):
    """The file fits several kinds (SD and SDXL, or SD3 and FLUX) and none was given."""


@dataclass
class Part:
    """One diffusers autoencoder to build and the file its weights come from."""

    cls: str                  # "AutoencoderKL" or "AutoencoderTiny"
    layout: str               # ldm, diffusers or taesd
    weights: Path             # the safetensors file
    config: dict              # diffusers config
    halves: tuple[str, ...]   # which of "encoder", "decoder" the file holds
    prefix: dict = field(default_factory=dict)  # half or "" -> key prefix in the file
    kind: Kind | None = None  # None: a TAESD file, whose latents are already normalised

    @property
    def channels(self) -> int:
        return int(self.config["latent_channels"])

    @property
    def factor(self) -> int:
        return 2 ** (len(self.levels) - 1)

    @property
    def levels(self) -> list[int]:
        """Channels per resolution level (of the encoder, where the file holds one)."""
        if self.cls == "AutoencoderKL":
            return self.config["block_out_channels"]
        half = "encoder" if "encoder" in self.halves else "decoder"
        return self.config[f"{half}_block_out_channels"]

    def title(self) -> str:
        what = "TAESD-family" if self.cls == "AutoencoderTiny" else (
            self.kind.title if self.kind else "Stable Diffusion-family")
        return f"{what} {self.cls} ({', '.join(self.halves)}; {self.layout} layout)"


def pickle_refusal(path: Path) -> CheckpointError:
    stem = path.with_suffix("").name
    return CheckpointError(
        f"{path}: a pickled checkpoint; latentfx never unpickles files (loading one can run "
        f"any code in it). Convert it to safetensors once, where you trust the file, e.g.\n"
        f"  python -c \"import torch, safetensors.torch as st; sd = torch.load('{path.name}', "
        f"map_location='cpu', weights_only=True); sd = sd.get('state_dict', sd); "
        f"st.save_file({{k: v.contiguous() for k, v in sd.items() if torch.is_tensor(v)}}, "
        f"'{stem}.safetensors')\"\n"
        f"or take the .safetensors release of the same model (every SD, SDXL, SD3, FLUX and "
        f"TAESD autoencoder has one), then pass that file with -m")


def read_header(path: Path) -> tuple[dict, dict]:
    """(tensor name -> {dtype, shape, ...}, metadata) of a safetensors file, from its
    header alone; a pickle is refused with how to convert it."""
    from latentfx.io.safetensors_files import read_header as header_of

    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise pickle_refusal(path)
    try:
        return header_of(path)
    except CheckpointError as error:
        if "pickled" in str(error):
            raise pickle_refusal(path) from None
        raise


def is_latentfx_checkpoint(path: Path) -> bool:
    from latentfx.models.checkpoint import METADATA_KEY  # (torch-free at import)

    return path.is_file() and METADATA_KEY in read_header(path)[1]


def describe(path: Path, *, kind: str | None = None, need_kind: bool = True) -> Part:
    """The Part a foreign model file or folder holds; CheckpointError naming the file when it
    holds no autoencoder latentfx can read, or (`need_kind`) when its kind is needed and not
    given. need_kind=False: the part's kind may stay None (its shapes are all that is asked)."""
    if path.is_dir():
        return _folder(path, kind)
    header, metadata = read_header(path)
    keys = set(header)
    for prefix in LDM_PREFIXES:
        if f"{prefix}encoder.conv_in.weight" in keys or f"{prefix}decoder.conv_in.weight" in keys:
            if f"{prefix}encoder.down.0.block.0.conv1.weight" not in keys and \
                    f"{prefix}decoder.up.0.block.0.conv1.weight" not in keys:
                raise CheckpointError(
                    f"{path}: an AutoencoderKL in diffusers' key layout without its config; "
                    f"pass the diffusers folder (config.json and the weights) with -m")
            return _ldm(path, header, metadata, prefix, kind, need_kind)
    tiny = _tiny_prefixes(keys)
    if tiny:
        return _tiny(path, header, tiny, kind)
    raise CheckpointError(
        f"{path}: a safetensors file, but neither a latentfx checkpoint nor an autoencoder "
        f"latentfx can read (an SD / SDXL / SD3 / FLUX AutoencoderKL in the LDM layout, a "
        f"TAESD-family file, or a diffusers model folder)")


# -- AutoencoderKL ------------------------------------------------------------------------------

def _ldm(path: Path, header: dict, metadata: dict, prefix: str, kind: str | None,
         need_kind: bool) -> Part:
    shape = {k[len(prefix):]: v["shape"] for k, v in header.items() if k.startswith(prefix)}
    halves = tuple(h for h in ("encoder", "decoder") if f"{h}.conv_in.weight" in shape)
    if halves != ("encoder", "decoder"):
        raise CheckpointError(f"{path}: an AutoencoderKL with only its {halves[0]}; latentfx "
                              f"needs both halves in the file")
    levels = _count(shape, r"encoder\.down\.(\d+)\.block\.0\.conv1\.weight")
    channels = shape["decoder.conv_in.weight"][1]
    try:
        chosen = _resolve_kind(path, channels, kind, _hint(header, metadata))
    except AmbiguousKind:
        if need_kind:
            raise
        chosen = None
    base = chosen or kinds_with(channels)[0]  # for what shapes cannot say but kinds share
    config = {**base.config(),
              "block_out_channels": [shape[f"encoder.down.{i}.block.0.conv1.weight"][0]
                                     for i in range(levels)],
              "down_block_types": ["DownEncoderBlock2D"] * levels,
              "up_block_types": ["UpDecoderBlock2D"] * levels,
              "layers_per_block": _count(shape, r"encoder\.down\.0\.block\.(\d+)\.conv1\.weight"),
              "latent_channels": channels,
              "use_quant_conv": "quant_conv.weight" in shape,
              "use_post_quant_conv": "post_quant_conv.weight" in shape,
              "mid_block_add_attention": "encoder.mid.attn_1.q.weight" in shape}
    return Part("AutoencoderKL", "ldm", path, config, halves, {"": prefix}, chosen)


def _hint(header: dict, metadata: dict) -> str | None:
    """The kind a whole checkpoint's other keys or its model-spec metadata name, if any."""
    for key_prefix, name in CHECKPOINT_HINTS:
        if any(k.startswith(key_prefix) for k in header):
            return name
    architecture = str(metadata.get("modelspec.architecture", "")).lower()
    for marker, name in (("xl", "sdxl"), ("stable-diffusion-3", "sd3"), ("flux", "flux"),
                         ("stable-diffusion-v", "sd")):
        if marker in architecture:
            return name
    return None


def _resolve_kind(path: Path, channels: int, requested: str | None, hint: str | None) -> Kind:
    candidates = kinds_with(channels)
    if not candidates:
        raise CheckpointError(f"{path}: an autoencoder with {channels}-channel latents; "
                              f"latentfx knows {', '.join(f'{k.name} ({k.channels})' for k in KINDS.values())}")
    if requested is not None:
        if requested not in KINDS:
            raise CheckpointError(f"--vae-kind must be one of {', '.join(KINDS)}, got {requested!r}")
        if KINDS[requested] not in candidates:
            raise CheckpointError(
                f"--vae-kind {requested}: {path} has {channels}-channel latents and "
                f"{requested} has {KINDS[requested].channels}; it is one of "
                f"{' or '.join(k.name for k in candidates)}")
        return KINDS[requested]
    if hint is not None and KINDS[hint] in candidates:
        return KINDS[hint]
    if len(candidates) == 1:
        return candidates[0]
    options = " or ".join(
        f"--vae-kind {k.name} ({k.title}: x{k.config()['scaling_factor']}"
        + (f", shift {k.config()['shift_factor']}" if k.config().get("shift_factor") else "")
        + ")" for k in candidates)
    names = " and ".join(k.title for k in candidates)
    raise AmbiguousKind(
        f"{path}: a {channels}-channel autoencoder that could be {names}: their files have "
        f"identical shapes, and the scale of the latent each was trained for cannot be read "
        f"from the weights. Say which with {options}")


# -- diffusers folders ----------------------------------------------------------------------------

def _folder(path: Path, kind: str | None) -> Part:
    config_file = path / FOLDER_CONFIG
    weights = next((path / name for name in FOLDER_WEIGHTS if (path / name).is_file()), None)
    if weights is None and (path / "diffusion_pytorch_model.bin").is_file():
        raise pickle_refusal(path / "diffusion_pytorch_model.bin")
    if not config_file.is_file() or weights is None:
        raise CheckpointError(
            f"{path}: a folder, but not a diffusers autoencoder folder (it needs "
            f"{FOLDER_CONFIG} and {FOLDER_WEIGHTS[0]}); for a latentfx model give its "
            f".safetensors file")
    try:
        config = json.loads(config_file.read_text())
        cls = config["_class_name"]
    except (ValueError, KeyError, TypeError):
        raise CheckpointError(f"{config_file}: not a diffusers config (no _class_name)") from None
    if cls not in ("AutoencoderKL", "AutoencoderTiny"):
        raise CheckpointError(f"{config_file}: a {cls}; latentfx reads AutoencoderKL and "
                              f"AutoencoderTiny folders")
    header, _ = read_header(weights)
    config = with_defaults(config)
    chosen = _folder_kind(config_file, config, kind) if cls == "AutoencoderKL" else None
    halves = tuple(h for h in ("encoder", "decoder") if any(k.startswith(f"{h}.") for k in header))
    prefixes = {h: f"{h}.layers." for h in halves} if cls == "AutoencoderTiny" else {"": ""}
    return Part(cls, "diffusers", weights, config, halves, prefixes, chosen)


def _folder_kind(config_file: Path, config: dict, requested: str | None) -> Kind | None:
    """The kind a folder's config describes; --vae-kind may only agree with it (the config's
    scale is the one used, so a different kind would mislabel the latent)."""
    found = _kind_of(config)
    if requested is None:
        return found
    asked = _resolve_kind(config_file.parent, int(config.get("latent_channels") or 4),
                          requested, None)
    if found is not None and found is not asked:
        raise CheckpointError(f"--vae-kind {requested}: {config_file} describes a "
                              f"{found.title} autoencoder (scaling_factor "
                              f"{config.get('scaling_factor')}); drop --vae-kind")
    return asked


def _kind_of(config: dict) -> Kind | None:
    """The kind whose bundled config has this folder config's latent scale and channels."""
    for kind in KINDS.values():
        known = kind.config()
        if (known["scaling_factor"], known["latent_channels"]) == \
                (config.get("scaling_factor"), config.get("latent_channels")):
            return kind
    return None


# -- the TAESD family -----------------------------------------------------------------------------

def _tiny_prefixes(keys: set[str]) -> dict[str, str]:
    """half -> key prefix of each half the file holds; a reference release file holds one
    half with bare Sequential indices: "0.weight" (an encoder's first conv) or "1.weight"
    (a decoder's: its layer 0 is a clamp with no weights)."""
    found = {half: p for half, options in TINY_PREFIXES.items() for p in options
             if f"{p}1.weight" in keys or f"{p}0.weight" in keys}
    if found:
        return found
    if "0.weight" in keys and "1.conv.0.weight" in keys:
        return {"encoder": ""}
    if "1.weight" in keys and "3.conv.0.weight" in keys:
        return {"decoder": ""}
    return {}


def tiny_index_shift(prefix: str, half: str) -> int:
    """How much a file's decoder indices exceed diffusers': the reference decoder (and
    ComfyUI's copy of it) starts with a weightless clamp that diffusers' DecoderTiny does
    in forward() instead."""
    return 1 if half == "decoder" and not prefix.startswith("decoder.layers.") else 0


def _tiny(path: Path, header: dict, prefixes: dict[str, str], kind: str | None) -> Part:
    if kind is not None and kind not in KINDS:
        raise CheckpointError(f"--vae-kind must be one of {', '.join(KINDS)}, got {kind!r}")
    config: dict = {}
    for half, prefix in prefixes.items():
        shift = tiny_index_shift(prefix, half)
        layers = {}
        for name, info in header.items():
            m = re.fullmatch(re.escape(prefix) + r"(\d+)\.(.+)", name)
            if m:
                layers.setdefault(int(m.group(1)) - shift, {})[m.group(2)] = info["shape"]
        config.update(_tiny_half(half, [layers[i] for i in sorted(layers)]))
    channels = config.get("latent_channels")
    base = bundled_config("taesd3" if channels == 16 else "taesd")
    if kind is not None and KINDS[kind].channels != channels:
        raise CheckpointError(f"--vae-kind {kind}: {path} has {channels}-channel latents "
                              f"and {kind} has {KINDS[kind].channels}")
    return Part("AutoencoderTiny", "taesd", path, {**base, **config}, tuple(prefixes), prefixes,
                None)


def _tiny_half(half: str, layers: list[dict]) -> dict:
    """Channels and blocks per level of one half, from its layers' shapes in order: a conv
    (a "weight") or a block ("conv.0.weight", three convs and a skip)."""
    runs: list[list[int]] = []  # per level: the channels of its blocks
    convs = [layer["weight"] for layer in layers if "weight" in layer]
    for layer in layers:
        if "weight" in layer:
            runs.append([])
        else:
            runs[-1].append(layer["conv.0.weight"][0])
    if half == "encoder":
        runs = runs[:-1]  # the last conv maps to the latent and has no blocks after it
        return {"encoder_block_out_channels": [convs[i][0] for i in range(len(runs))],
                "num_encoder_blocks": [len(r) for r in runs],
                "latent_channels": convs[-1][0]}
    runs = runs[:-1]
    return {"decoder_block_out_channels": [r[0] for r in runs],
            "num_decoder_blocks": [len(r) for r in runs],
            "latent_channels": convs[0][1]}


def _count(shape: dict, pattern: str) -> int:
    return len({m.group(1) for k in shape if (m := re.fullmatch(pattern, k))})
