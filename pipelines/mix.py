"""mix: a weighted sum of latents, a*z1 + b*z2 + c*z3 with a + b + c = 1, decoded; or the
whole barycentric triangle of three keyframes as a grid.

Inputs are anything a walk takes as a keyframe (image paths, seed:N, STORE:entry), each with
its weight after the last colon: `a.jpg:0.2`; with no weights at all, the mix is equal.
Weights may be negative: `c:1 b:1 a:-1` is the analogy c + (b - a), "a is to b as c is to ?".
"""

from __future__ import annotations

import dataclasses
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from latentfx.errors import InputError
from latentfx.io.outputs import IMAGE_OUTPUTS, check_output_file
from latentfx.priors.choice import check_prior_option
from pipelines.specs import ModelSpec, output_path

SUM_TOLERANCE = 1e-3
_BARE_SEED = re.compile(r"seed:-?\d+\Z")


@dataclass
class MixSpec(ModelSpec):
    inputs: list[str]            # "KEYFRAME:WEIGHT", or plain keyframes with --triangle
    output: str = output_path()
    model: str | None = None
    normalize: bool = False      # scale the weights to sum to 1 instead of refusing
    triangle: int | None = None  # rows of the barycentric grid of three keyframes
    size: tuple[int, int] | None = None
    fit: str = "crop"
    prior: str | None = None     # what seed:N inputs draw from; default: the model's
    device: str = "auto"

    def parsed(self) -> tuple[list[str], list[float]]:
        """(keyframes, weights), checked."""
        if self.triangle is not None:
            if len(self.inputs) != 3:
                raise InputError(f"--triangle needs exactly three inputs, got {len(self.inputs)}")
            if self.triangle < 2:
                raise InputError(f"--triangle must be at least 2 rows, got {self.triangle}")
            return list(self.inputs), []
        if len(self.inputs) < 2:
            raise InputError("give two or more inputs as KEYFRAME:WEIGHT, e.g. a.jpg:0.3 b.jpg:0.7")
        keys, weights = zip(*(split_weight(text) for text in self.inputs))
        if all(w is None for w in weights):  # no weights at all: an equal mix
            weights = [1 / len(keys)] * len(keys)
        elif None in weights:
            text = self.inputs[weights.index(None)]
            raise InputError(f"{text!r} has no weight but other inputs do: write each input "
                             f"as KEYFRAME:WEIGHT, e.g. a.jpg:0.25, or give none for an equal "
                             f"mix")
        keys, weights = list(keys), list(weights)
        total = sum(weights)
        if self.normalize:
            if abs(total) < 1e-9:
                raise InputError("the weights sum to 0; they cannot be normalised")
            weights = [w / total for w in weights]
        elif abs(total - 1) > SUM_TOLERANCE:
            raise InputError(f"the weights sum to {total:g}, not 1 (a mix is a*z1 + b*z2 + ... "
                             f"with a + b + ... = 1); fix them or pass --normalize")
        return keys, weights

    def validate(self) -> None:
        from latentfx.walk.keyframes import parse_keyframe

        keys, _ = self.parsed()
        for text in keys:
            key = parse_keyframe(text)
            missing = key.store if key.store is not None else key.path
            if missing is not None and not missing.exists():
                raise InputError(f"{missing}: no such file (mix input {text!r})")
        check_prior_option(self.prior)
        check_output_file(self.output, suffixes=IMAGE_OUTPUTS)

    def resolved(self) -> "MixSpec":
        """The prior of seed:N inputs settled from the model file, for the manifest."""
        from latentfx.priors.choice import resolve_prior  # reads the model file: here only
        from latentfx.walk.keyframes import draws_from_prior

        keys, _ = self.parsed()
        return dataclasses.replace(self, prior=resolve_prior(self.model, self.prior,
                                                             draws=draws_from_prior(keys)))


def split_weight(text: str) -> tuple[str, float | None]:
    """"a.jpg:0.2" -> ("a.jpg", 0.2); ("a.jpg", None) when no number follows the last colon.
    A bare seed:N is a keyframe of its own, not seed with the weight N."""
    key, sep, weight = text.rpartition(":")
    if not sep or not key or _BARE_SEED.match(text):
        return text, None
    try:
        return key, float(weight)
    except ValueError:
        return text, None


@dataclass
class MixResult:
    output: Path
    weights: list[float]
    size: tuple[int, int]


def triangle_weights(rows: int) -> list[tuple[int, int, tuple[float, float, float]]]:
    """(row, column, (a, b, c)) for every cell of a triangle with `rows` rows: a at the top,
    b bottom left, c bottom right; a + b + c = 1 in every cell."""
    cells = []
    for i in range(rows):
        for j in range(i + 1):
            a = 1 - i / (rows - 1)
            c = j / (rows - 1)
            cells.append((i, j, (a, 1 - a - c, c)))
    return cells


def run(spec: MixSpec, *, progress: Callable[[int, int, str], None] | None = None,
        cancel: Callable[[], bool] | None = None) -> MixResult:
    import torch

    from latentfx.images.grids import make_grid, save_image
    from latentfx.io.manifests import input_record, write_manifest
    from latentfx.walk.keyframes import load_keyframes
    from latentfx.walk.rendering import LatentSpace, frame_size

    # 1. Check the weights, load the model and the inputs.
    spec = spec.checked()
    keys_text, weights = spec.parsed()
    started = time.perf_counter()
    model, info = spec.load_model()
    keys = load_keyframes(keys_text)
    width, height = frame_size(spec.size, model, keys)
    space = LatentSpace(model, height=height, width=width, fit=spec.fit, temperature=1.0,
                        model_id=info.model_id, prior=spec.prior)
    anchors = torch.cat([space.anchor(k) for k in keys])  # (K, ...)

    # 2. Weighted sums of the latents, decoded.
    if spec.triangle is None:
        mixes = [weights]
    else:
        cells = triangle_weights(spec.triangle)
        mixes = [list(w) for _, _, w in cells]
    w = torch.tensor(mixes, dtype=anchors.dtype, device=anchors.device)  # (M, K)
    z = torch.einsum("mk,k...->m...", w, anchors)
    pictures = torch.cat([space.decode(z[i: i + 8]).cpu() for i in range(0, len(z), 8)])

    # 3. One picture, or the triangle laid out on a grid (blank cells outside it).
    if spec.triangle is None:
        save_image(pictures[0], spec.output)
    else:
        grid = torch.ones(spec.triangle * spec.triangle, 3, height, width)
        for picture, (i, j, _) in zip(pictures, cells):
            grid[i * spec.triangle + j] = picture
        save_image(make_grid(grid, nrow=spec.triangle), spec.output)
    write_manifest(spec.output, job="mix", spec=asdict(spec), model_id=info.model_id,
                   inputs=[input_record(k.path or k.store) for k in keys if k.seed is None],
                   timings={"seconds": round(time.perf_counter() - started, 3)},
                   results={"weights": mixes if spec.triangle else weights})
    return MixResult(Path(spec.output), weights, (width, height))
