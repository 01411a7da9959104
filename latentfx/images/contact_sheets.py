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
    width = max(p.width for p in pictures)
    lines = max(c.caption.count("\n") + 1 for c in cells)
    # Each row is as tall as its own tallest picture: a sheet of one tall input and many
    # thin strips (inspect) does not space every strip by the input's height.
    row_heights = [max(p.height for p in pictures[i:i + columns])
                   for i in range(0, len(pictures), columns)]
    caption_height = lines * LINE_HEIGHT + 2 + GUTTER
    tops = [GUTTER + sum(row_heights[:r]) + r * caption_height for r in range(len(row_heights))]
    pitch_x = width + GUTTER
    sheet = Image.new("RGB", (columns * pitch_x + GUTTER,
                              tops[-1] + row_heights[-1] + caption_height), "white")
    draw = ImageDraw.Draw(sheet)
    captions = _fitted_captions(draw, [c.caption.split("\n") for c in cells], width)
    for n, (caption, picture) in enumerate(zip(captions, pictures)):
        x, y = GUTTER + (n % columns) * pitch_x, tops[n // columns]
        sheet.paste(picture, (x, y))
        for row, line in enumerate(caption):
            draw.text((x, y + row_heights[n // columns] + 2 + row * LINE_HEIGHT), line,
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


def _fitted_captions(draw, captions: list[list[str]], width: int) -> list[list[str]]:
    """Each caption's lines, fitted to the cell width. Long lines in the same row of several
    cells (file names, mostly) lose what they all share first, so the part that tells them
    apart stays in view ("org.gnome.Settings-alarm-symbolic.png" and "...-bell-symbolic.png"
    become "…alarm…" and "…bell…"); what is still too long loses its middle."""
    fitted = [list(lines) for lines in captions]
    for row in range(max(len(lines) for lines in captions)):
        long = [lines for lines in fitted if row < len(lines) and
                draw.textlength(lines[row]) > width]
        if len(long) > 1:
            for lines, short in zip(long, _distinct_parts([lines[row] for lines in long])):
                lines[row] = short
        for lines in fitted:
            if row < len(lines):
                lines[row] = _fit_text(draw, lines[row], width)
    return fitted


SEPARATORS = "/\\_-. "  # common parts are cut at these, so that no word is cut in two


def _distinct_parts(texts: list[str]) -> list[str]:
    """The texts without the prefix and suffix they all share, each cut replaced by "…"."""
    start = _at_separator(len(os.path.commonprefix(texts)), texts[0], after=True)
    ends = [t[::-1] for t in texts]
    end = len(texts[0]) - _at_separator(len(texts[0]) - len(os.path.commonprefix(ends)),
                                        texts[0], after=False)
    if any(start + end >= len(t) for t in texts):  # nothing would be left of one of them
        end = 0
    if any(start >= len(t) for t in texts):
        start = 0
    return [("…" if start else "") + t[start: len(t) - end] + ("…" if end else "")
            for t in texts]


def _at_separator(cut: int, text: str, *, after: bool) -> int:
    """`cut` moved back (a prefix; `after` a separator) or forward (a suffix; onto one) to the
    nearest separator, or to the text's edge when there is none."""
    if after:
        found = max(text.rfind(c, 0, cut) for c in SEPARATORS)
        return found + 1 if found >= 0 else 0
    found = [i for i in (text.find(c, cut) for c in SEPARATORS) if i >= 0]
    return min(found) if found else len(text)


def _fit_text(draw, text: str, width: int) -> str:
    """Shorten from the middle (names differ at their start or their end) until it fits."""
    if draw.textlength(text) <= width:
        return text
    head, tail = text[: len(text) // 2], text[len(text) // 2:]
    while (head or tail) and draw.textlength(head + "…" + tail) > width:
        if len(head) > len(tail):
            head = head[:-1]
        else:
            tail = tail[1:]
    return head + "…" + tail
