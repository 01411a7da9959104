"""inspect: one image's activations through every layer of the encoder and the decoder (the
lecture's figure of a digit passing through the layers), with each layer's name, size and
value range."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from latentfx.errors import InputError
from latentfx.io.outputs import IMAGE_OUTPUTS, check_output_file
from pipelines.specs import ModelSpec, input_path, output_path

TILE = 64          # each feature map is drawn this tall
MAX_CHANNELS = 8   # channels shown per layer (the ones with the largest spread)
MAX_SIDE = 512     # spatial models: larger images are downscaled first


@dataclass
class InspectSpec(ModelSpec):
    image: str = input_path()
    output: str = output_path()
    model: str | None = None
    channels: int = MAX_CHANNELS
    device: str = "auto"

    def validate(self) -> None:
        if not 1 <= self.channels <= 64:
            raise InputError(f"--channels must be between 1 and 64, got {self.channels}")
        check_output_file(self.output, suffixes=IMAGE_OUTPUTS)


@dataclass
class Layer:
    name: str
    shape: tuple[int, ...]  # without the batch dimension
    low: float
    high: float


@dataclass
class InspectResult:
    output: Path
    layers: list[Layer] = field(default_factory=list)


# diffusers' blocks too (foreign autoencoders, latentfx/models/foreign/), shown as blocks.
DIFFUSERS_BLOCKS = ("ResnetBlock2D", "Downsample2D", "Upsample2D", "Attention",
                    "AutoencoderTinyBlock")
LAYER_TYPES = ("Conv2d", "Linear", "ResBlock", "Downsample", "Upsample", "PixelUnshuffle",
               *DIFFUSERS_BLOCKS)


def run(spec: InspectSpec, *, progress: Callable[[int, int, str], None] | None = None,
        cancel: Callable[[], bool] | None = None) -> InspectResult:
    import torch

    from latentfx.images.contact_sheets import Cell, contact_sheet
    from latentfx.images.loading import image_to_tensor, load_image
    from latentfx.images.resizing import for_model
    from latentfx.io.manifests import input_record, write_manifest

    spec.validate()
    started = time.perf_counter()
    model, info = spec.load_model()
    x = for_model(image_to_tensor(load_image(spec.image)), model, max_side=MAX_SIDE)

    # 1. Record every layer's output in the order the layers run.
    seen: list[tuple[str, torch.Tensor]] = []
    hooks = [module.register_forward_hook(
        lambda _m, _i, out, name=name: seen.append((name, out.detach().float().cpu())))
        for name, module in model.named_modules()
        if type(module).__name__ in LAYER_TYPES and not _inside_block(name, model)]
    try:
        with torch.inference_mode():
            posterior = model.encode(x[None].to(model.device))
            output = model.decode(posterior.mode(), size=tuple(x.shape[-2:]))[0].float().cpu()
    finally:
        for hook in hooks:
            hook.remove()

    # 2. One row per layer: its strongest channels side by side, captioned.
    cells = [Cell(x, f"input  3x{x.shape[-2]}x{x.shape[-1]}")]
    layers = []
    for name, out in seen:
        a = out[0]
        layers.append(Layer(name, tuple(a.shape), float(a.min()), float(a.max())))
        shape = "x".join(map(str, a.shape))
        cells.append(Cell(_strip(a, spec.channels),
                          f"{name}  {shape}  [{a.min():.2f}, {a.max():.2f}]"))
    cells.append(Cell(output, f"output  3x{output.shape[-2]}x{output.shape[-1]}"))
    contact_sheet(cells, spec.output, columns=1)
    write_manifest(spec.output, job="inspect", spec=asdict(spec), model_id=info.model_id,
                   inputs=[input_record(spec.image)],
                   timings={"seconds": round(time.perf_counter() - started, 3)},
                   results={"layers": [asdict(layer) for layer in layers]})
    return InspectResult(Path(spec.output), layers)


BLOCKS = ("ResBlock", "Downsample", "Upsample", *DIFFUSERS_BLOCKS)


def _inside_block(name: str, model) -> bool:
    """Layers inside a block (residual, down- or upsampling) are shown as the block's
    output, not one by one."""
    parts = name.split(".")
    modules = dict(model.named_modules())
    return any(type(modules[".".join(parts[:i])]).__name__ in BLOCKS
               for i in range(1, len(parts)))


def _strip(a, channels: int):
    """(C, H, W) feature maps, or a (N,) vector, as one picture: the `channels` maps with the
    largest spread side by side, each stretched to its own range (grey), TILE pixels tall."""
    import torch

    if a.dim() == 1:  # a dense layer: its numbers as a strip of cells
        a = a[None, None, :]
    if a.dim() != 3:
        a = a.reshape(1, 1, -1)
    spread = a.flatten(1).std(dim=1) if a.shape[1] * a.shape[2] > 1 else a.flatten(1).abs()[:, 0]
    chosen = a[spread.argsort(descending=True)[:channels]]
    low = chosen.flatten(1).min(1).values[:, None, None]
    high = chosen.flatten(1).max(1).values[:, None, None]
    maps = (chosen - low) / (high - low).clamp_min(1e-8)  # (c, h, w) in [0, 1]
    h, w = maps.shape[-2:]
    width = max(1, round(w * TILE / h)) if h > 1 else max(TILE, min(8 * TILE, w * 8))
    # Nearest neighbour: every activation stays a crisp block, as it is in the network.
    tiles = torch.nn.functional.interpolate(maps[:, None], size=(TILE, width), mode="nearest")
    gap = torch.ones(1, 1, TILE, 2)
    row = torch.cat([t for tile in tiles for t in (tile[None], gap)], dim=-1)[0]
    return row.expand(3, -1, -1)
