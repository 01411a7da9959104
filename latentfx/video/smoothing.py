"""Steadying a video's latents over time, and measuring flicker.

Each frame is encoded on its own, so small frame-to-frame changes (noise, compression) become
latent jitter that the decoder turns into flicker. Averaging each frame's latent with its
neighbours' (a centred triangular window of `window` frames) removes jitter that lasts a
frame or two. Centred, not a running average: a running average lags behind the picture.
Plain averaging also smears motion; with an `align` function (video/flow.py) each neighbour is
first moved along the optical flow onto the frame it is averaged into.
"""

from __future__ import annotations

from collections import deque
from typing import Callable, Iterable, Iterator

import torch


def window_weights(window: int) -> torch.Tensor:
    """(2r+1,) triangular weights for a window of `window` frames (r = window // 2)."""
    r = window // 2
    return (r + 1 - torch.arange(-r, r + 1).abs()).float()


def smooth_latents(batches: Iterable[tuple[torch.Tensor, object]], *, window: int,
                   align: Callable | None = None) -> Iterator[tuple[torch.Tensor, object]]:
    """Latent batches (B, ...) with a payload per batch (e.g. the frames they came from,
    anything indexable by frame) in; the same frames out, one at a time in (1, ...) batches
    paired with their payload item, each latent averaged with up to window // 2 frames on
    either side. At the ends the window is cut short and the weights renormalised.

    align(neighbour latent, centre payload, neighbour payload) -> (moved latent, weight map)
    moves a neighbour onto the centre frame first and weights it per pixel (video/flow.py).

    Streaming: memory holds `window` latents, and frame t comes out once t + r has gone in.
    """
    r = window // 2
    weights = window_weights(window)
    held: deque = deque()   # (latent (1, ...), payload item), frames t - r .. t + r
    first = 0               # index (in the video) of held[0]
    emitted = 0

    def emit(t: int):
        centre = held[t - first]
        total, norm = 0.0, 0.0
        for i in range(max(0, t - r), min(first + len(held), t + r + 1)):
            z, payload = held[i - first]
            w = weights[i - (t - r)]
            if align is not None and i != t:
                z, agreement = align(z, centre[1], payload)
                w = w * agreement
            total, norm = total + w * z, norm + w
        return total / norm, centre[1]

    for latents, payload in batches:
        for i in range(len(latents)):
            held.append((latents[i: i + 1], payload[i]))
            if len(held) > 2 * r + 1:
                held.popleft()
                first += 1
            if first + len(held) - 1 - emitted >= r:   # frame `emitted` has its right side
                yield emit(emitted)
                emitted += 1
    while emitted < first + len(held):
        yield emit(emitted)
        emitted += 1


class FlickerMeter:
    """Mean absolute frame-to-frame change of a stream of uint8 frames (B, H, W, 3)."""

    def __init__(self):
        self.total, self.steps, self._last = 0.0, 0, None

    def update(self, frames) -> None:
        x = torch.as_tensor(frames[:, ::2, ::2]).float()  # every other pixel is plenty
        if self._last is not None:
            x = torch.cat([self._last, x])
        if len(x) > 1:
            self.total += (x[1:] - x[:-1]).abs().mean(dim=(1, 2, 3)).sum().item()
            self.steps += len(x) - 1
        self._last = x[-1:]

    @property
    def mean(self) -> float:
        return self.total / self.steps if self.steps else 0.0
