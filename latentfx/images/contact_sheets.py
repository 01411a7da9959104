"""Contact sheets: pictures in a grid, each with a caption strip under it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from latentfx.images.loading import tensor_to_image
from latentfx.io.atomic import atomic_path
from latentfx.io.outputs import image_format

GUTTER = 4
LINE_HEIGHT = 12   # Pillow's built-in bitmap font
MIN_CELL_WIDTH = 128  # small pictures are enlarged so their captions stay readable


@dataclass
class Cell:
    image: torch.Tensor  # (3, h, w) in [0, 1]
    caption: str         # one line per "\n"


def contact_sheet(cells: list[Cell], output: str | os.PathLike, *, columns: int,
                  min_cell_width: int = MIN_CELL_WIDTH) -> Path:
    """Lay the cells out `columns` to a row on white, caption under each, and save
    atomically (format by extension); pictures narrower than min_cell_width are enlarged."""
    from PIL import Image, ImageDraw

    scale = max(1.0, min_cell_width / max(c.image.shape[-1] for c in cells))
    pictures = [_enlarged(c.image.clamp(0, 1), scale) for c in cells]
    height = max(p.height for p in pictures)
    width = max(p.width for p in pictures)
    lines = max(c.caption.count("\n") + 1 for c in cells)
    rows = -(-len(cells) // columns)
    pitch_x, pitch_y = width + GUTTER, height + lines * LINE_HEIGHT + 2 + GUTTER
    sheet = Image.new("RGB", (columns * pitch_x + GUTTER, rows * pitch_y + GUTTER), "white")
    draw = ImageDraw.Draw(sheet)
    for n, (cell, picture) in enumerate(zip(cells, pictures)):
        x, y = GUTTER + (n % columns) * pitch_x, GUTTER + (n // columns) * pitch_y
        sheet.paste(picture, (x, y))
        for row, line in enumerate(cell.caption.split("\n")):
            draw.text((x, y + height + 2 + row * LINE_HEIGHT), _fit_text(draw, line, width),
                      fill="black")
    output = Path(output)
    with atomic_path(output) as tmp:
        sheet.save(tmp, format=image_format(output))
    return output


def _enlarged(image: torch.Tensor, scale: float):
    from PIL import Image

    picture = tensor_to_image(image)
    if scale > 1:
        picture = picture.resize((round(picture.width * scale), round(picture.height * scale)),
                                 Image.Resampling.LANCZOS)
    return picture


def _fit_text(draw, text: str, width: int) -> str:
    """Shorten from the left (file names differ at their ends) until it fits the cell."""
    if draw.textlength(text) <= width:
        return text
    while text and draw.textlength("…" + text) > width:
        text = text[1:]
    return "…" + text
