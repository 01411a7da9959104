"""Running a fully convolutional model on an image too big to go through in one piece.

The image is cut into overlapping tiles, each tile goes through the model, and the results
are put back with weights that ramp linearly across each overlap, so no seam shows: near a
tile's edge its output is least trustworthy (the model saw padding there), and that is where
its weight fades out and the neighbour's fades in. The same routine tiles the encoder (pixels
-> a latent image `factor` times smaller) and the decoder (latent -> pixels), because a
spatial model's latent is itself an image.
"""

from __future__ import annotations

from typing import Callable

import torch


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of `tile` covering [0, length), neighbours overlapping by at
    least `overlap`; the last tile ends exactly at `length`."""
    if length <= tile:
        return [0]
    stride = tile - overlap
    starts = list(range(0, length - tile, stride))
    return starts + [length - tile]


def ramp(size: int, *, fade_in: int, fade_out: int) -> torch.Tensor:
    """(size,) weights: rising over the first fade_in entries, falling over the last
    fade_out, 1 in between; never 0, so every pixel keeps some weight."""
    w = torch.ones(size)
    i = torch.arange(size, dtype=torch.float32)
    if fade_in:
        w = torch.minimum(w, (i + 1) / (fade_in + 1))
    if fade_out:
        w = torch.minimum(w, (size - i) / (fade_out + 1))
    return w


def tiled(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, *, tile: int,
          overlap: int, scale: float) -> torch.Tensor:
    """fn applied to x (B, C, H, W) tile by tile, blended: fn maps a (B, C, h, w) tile to
    (B, C', h*scale, w*scale). tile and overlap are in x's pixels, and must give whole
    numbers when multiplied by scale (the caller aligns them to the model's factor)."""
    _, _, height, width = x.shape
    if height <= tile and width <= tile:
        return fn(x)
    ys, xs = tile_starts(height, tile, overlap), tile_starts(width, tile, overlap)
    out = norm = None
    for y in ys:
        for x0 in xs:
            piece = fn(x[..., y: y + tile, x0: x0 + tile])  # (B, C', th, tw)
            if out is None:
                out = piece.new_zeros((*piece.shape[:2], round(height * scale),
                                       round(width * scale)))
                norm = piece.new_zeros((1, 1, *out.shape[-2:]))
            th, tw = piece.shape[-2:]
            oy, ox = round(y * scale), round(x0 * scale)
            fade = round(overlap * scale)
            weight = (ramp(th, fade_in=fade if y else 0, fade_out=fade if y != ys[-1] else 0)[:, None]
                      * ramp(tw, fade_in=fade if x0 else 0,
                             fade_out=fade if x0 != xs[-1] else 0)[None]).to(piece)
            out[..., oy: oy + th, ox: ox + tw] += piece * weight
            norm[..., oy: oy + th, ox: ox + tw] += weight
    return out / norm
