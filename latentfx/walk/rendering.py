"""Rendering the frames of a walk: keyframes -> anchors in a space -> a path -> pictures.

A *space* turns keyframes into anchors and anchors back into pictures at the output size:
  LatentSpace: anchors are latents (posterior means); pictures come from the decoder.
  PixelSpace:  anchors are the fitted keyframe images themselves; a walk is a crossfade.
The renderer joins the anchors with one interpolation, applies easing and (optionally)
uniform pacing, adds back reconstruction residuals, and renders any batch of frames, in any
order: a frame depends only on its (segment, fraction), which is what lets a farm render a
walk in chunks.
"""

from __future__ import annotations

from functools import partial
from typing import Callable

import torch

from latentfx.errors import InputError
from latentfx.images.resizing import fit_to, resize
from latentfx.models import VAE
from latentfx.options import DATA_PULLS
from latentfx.walk.easing import ease
from latentfx.walk.data_path import DataPath
from latentfx.walk.interpolation import KeyframePath
from latentfx.walk.keyframes import Keyframe, prior_latent
from latentfx.walk.correspondence import flow_size
from latentfx.walk.morph import Morph, Motion
from latentfx.walk.pacing import ArcLength

MAX_DEFAULT_SIDE = 512        # spatial models: default size is the first image, at most this
SQUARE_DEFAULT = (256, 256)   # seeds only, or a vector model (upscaled from its own size)
UPSCALE_FILTER = "bicubic"  # vector models decode at their own size, then frames are upscaled


class LatentSpace:
    def __init__(self, model: VAE, *, height: int, width: int, fit: str, temperature: float,
                 model_id: str = "", prior: str | None = None):
        self.model, self.size, self.fit, self.temperature = model, (height, width), fit, temperature
        self.model_id, self.prior = model_id, prior  # prior: what seed:N draws from
        self.model_size = model.working_size(height, width)  # what the decoder draws

    @torch.inference_mode()
    def anchor(self, key: Keyframe) -> torch.Tensor:
        """(1, ...) latent of a keyframe: the posterior mean of its fitted image, or a prior draw."""
        h, w = self.model_size
        if key.is_image:
            x = fit_to(key.image, h, w, self.fit)[None].to(self.model.device)
            return self.model.encode(x).mode().float()
        if key.latent is not None:
            return self._store_latent(key)
        return prior_latent(self.model, key.seed, height=h, width=w, temperature=self.temperature,
                            prior=self.prior)

    def _store_latent(self, key: Keyframe) -> torch.Tensor:
        """A store entry's latent, fitted to this walk's size (the store may have been
        encoded at another one)."""
        if key.model_id != self.model_id:
            raise InputError(f"keyframe {key.text}: its store was made with model "
                             f"{key.model_id[:16]}, not with this walk's ({self.model_id[:16]})")
        z = self.model.fit_latent(key.latent.float(), *self.model_size)
        return z.to(self.model.device)

    @property
    def cell_size(self) -> float:
        """Output pixels per latent pixel (spatial models, whose latent is a picture)."""
        h, w = self.model_size
        return h / self.model.latent_shape(h, w)[-2]

    @torch.inference_mode()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(B, ...) latents -> (B, 3, H, W) at the output size, on the model's device: frames
        are upscaled, blended with residuals and made uint8 there (to_uint8_frames), so only
        a quarter of the bytes come back."""
        images = self.model.decode(z.to(self.model.device), size=self.model_size).float()
        if self.model.native_size is not None:  # drawn at the model's size, not the output's
            images = fit_to(images, *self.size, self.fit, mode=UPSCALE_FILTER).clamp(0, 1)
        return images


class PixelSpace:
    """The plain crossfade that a latent walk is compared with. `seed:N` keyframes are the
    decoded prior draws of the latent space, so both walks show the same keyframes."""

    def __init__(self, latent: LatentSpace):
        self.latent, self.size, self.fit = latent, latent.size, latent.fit

    def anchor(self, key: Keyframe) -> torch.Tensor:
        if key.is_image:
            return fit_to(key.image, *self.size, self.fit)[None]
        return self.latent.decode(self.latent.anchor(key)).cpu()  # the crossfade: on the CPU

    def decode(self, x: torch.Tensor) -> torch.Tensor:
        return x.clamp(0, 1)


class WalkRenderer:
    def __init__(self, space, keys: list[Keyframe], *, interp: str, loop: bool, ease: str,
                 residual: bool, morph: bool = False, along: str = "line",
                 pulls: int = DATA_PULLS):
        self.space, self.ease_name = space, ease
        anchors = torch.cat([space.anchor(k) for k in keys])
        self.path = KeyframePath(anchors, interp=interp, loop=loop)
        if along == "data":
            self.path = DataPath(self.path, space.model, pulls=pulls)
        self.residuals, self.morph = None, None
        if residual or morph:
            recon = self.space.decode(anchors)
            if residual:  # on the frames' device, where they are blended
                self.residuals = self._pictures(keys, recon, self.space.size) - recon
            if morph:  # correspondences are found on the CPU
                pictures = self._pictures(keys, recon, flow_size(*self.space.size)).cpu()
                self.morph = Morph.between(pictures, frame=self.space.size, loop=loop)
        self.arc: ArcLength | None = None

    def _pictures(self, keys: list[Keyframe], recon: torch.Tensor,
                  size: tuple[int, int]) -> torch.Tensor:
        """Per keyframe, what it shows at `size` (h, w) with the frames' aspect: the fitted
        image, or for seeds and store entries, their decoded latent. At the output size,
        residuals (original minus reconstruction, zero for seeds) added back along the path
        make every real keyframe appear exactly; a morph finds its correspondences between
        these at the size it measures them on."""
        if tuple(recon.shape[-2:]) != tuple(size):
            recon = resize(recon, *size)
        return torch.stack([fit_to(k.image, *size, self.space.fit).to(recon.device)
                            if k.is_image else recon[i] for i, k in enumerate(keys)])

    def pace_uniformly(self, *, samples: int, batch: int,
                       progress: Callable[[int, int, str], None] | None = None) -> None:
        """Measure each segment's visual length at `samples` points; frames will then sit at
        equal distances along it."""
        # _frames renders at path parameters directly, before any pacing.
        self.arc = ArcLength.measure(self._frames, segments=self.path.segments, samples=samples,
                                     batch=batch, progress=progress)

    def parameter(self, segment: torch.Tensor, fraction: torch.Tensor) -> torch.Tensor:
        """Where on its segment a frame at this fraction of the segment's time lies."""
        eased = ease(self.ease_name, fraction.double())
        return eased if self.arc is None else self.arc.parameter(segment, eased)

    def render(self, segment: torch.Tensor, fraction: torch.Tensor) -> torch.Tensor:
        """(B,) segments and fractions -> (B, 3, H, W) float frames in [0, 1]. Repeated
        positions (held keyframes) are decoded once."""
        key = segment.double() * 2 + fraction.double()  # distinct per position
        _, inverse = torch.unique_consecutive(key, return_inverse=True)
        first = torch.cat([torch.zeros(1, dtype=torch.long),
                           (key[1:] != key[:-1]).nonzero().squeeze(1) + 1])
        seg = segment[first]
        return self._frames(seg, self.parameter(seg, fraction[first]))[inverse]

    def _frames(self, segment: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """Pictures at path parameters u (after easing and pacing)."""
        motion = self.morph.motion(segment, u) if self.morph is not None else None
        align = None if motion is None else partial(motion.align, cell=self.space.cell_size)
        images = self.space.decode(self.path.at(segment, u, align=align))
        if self.residuals is not None:
            images = images + self._residual(segment, u, motion)
        return images.clamp(0, 1)

    def _residual(self, segment: torch.Tensor, u: torch.Tensor,
                  motion: Motion | None) -> torch.Tensor:
        i, j = self.path.ends(segment)
        start, end = self.residuals[i], self.residuals[j]
        if motion is not None:  # the details move with the content they belong to
            start, end = motion.align(start, end, cell=1.0)
        t = u.to(start.device, torch.float32).reshape(-1, 1, 1, 1)
        return (1 - t) * start + t * end


def frame_size(size: tuple[int, int] | None, model: VAE, keys: list[Keyframe], *,
               even: bool = False, notes: list[str] | None = None) -> tuple[int, int]:
    """(width, height) of the pictures made from these keyframes: `size` if given (rounded
    down to even numbers when `even`, with a note saying so); else the first image's size
    (long side at most MAX_DEFAULT_SIDE) for spatial models, the size store entries were
    encoded at, or SQUARE_DEFAULT (vector models are upscaled to it)."""
    if size is not None:
        width, height = size
        if even and (width % 2 or height % 2):
            fixed = (width - width % 2, height - height % 2)
            (notes if notes is not None else []).append(f"size {width}x{height} rounded down to {fixed[0]}x{fixed[1]}: "
                         f"this format stores colour at half resolution and needs even sizes")
            width, height = fixed
        return width, height
    images = [k.image for k in keys if k.is_image]
    stored = [k.latent for k in keys if k.latent is not None]
    if model.native_size is not None or not (images or stored):
        return SQUARE_DEFAULT
    if not images:  # store entries only: the size they were encoded at
        height, width = model.picture_size(tuple(stored[0].shape))
        return width, height
    h, w = images[0].shape[-2:]
    scale = min(1.0, MAX_DEFAULT_SIDE / max(h, w))
    width, height = max(8, round(w * scale)), max(8, round(h * scale))
    return width - width % 2, height - height % 2  # even suits every container


def to_uint8_frames(images: torch.Tensor):
    """(B, 3, H, W) float in [0, 1] -> numpy uint8 (B, H, W, 3), what ffmpeg reads as rgb24.
    Converted where the frames are (a GPU) and copied back as uint8: a quarter of float32's
    bytes over the bus."""
    return images.mul(255).round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1) \
        .contiguous().cpu().numpy()
