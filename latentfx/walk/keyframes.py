"""Keyframes of a walk, as written on the command line: an image path, `seed:N` for a
latent drawn from a prior (N(0, I) or the model's fitted one) with that seed, or
`STORE.safetensors:path/in/store.jpg` for an entry of a latent store."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from typing import TYPE_CHECKING

from latentfx.errors import BadFile, InputError

# Parsing keyframe texts is torch-free, so the CLI checks them before heavy imports; loading
# them imports what it needs.
if TYPE_CHECKING:
    import torch

_SEED = re.compile(r"seed:(-?\d+)\Z")
_STORE_ENTRY = re.compile(r"(.+\.safetensors):(.+)\Z")


@dataclass(frozen=True)
class Keyframe:
    text: str                      # as given
    path: Path | None = None       # an image keyframe
    seed: int | None = None        # a prior keyframe
    image: torch.Tensor | None = None  # (3, h, w) in [0, 1], once loaded
    store: Path | None = None      # a store entry: the store file ...
    entry: str | None = None       # ... and the entry's path inside it
    latent: torch.Tensor | None = None  # the entry's latent, once loaded
    model_id: str | None = None    # the model the entry's latent belongs to

    @property
    def is_image(self) -> bool:
        return self.path is not None


def parse_keyframe(text: str) -> Keyframe:
    """`seed:N` is a prior draw and `S.safetensors:entry` a store entry, unless a file of
    that very name exists; anything else is an image path."""
    if Path(text).exists():
        return Keyframe(text, path=Path(text))
    match = _SEED.match(text)
    if match:
        return Keyframe(text, seed=int(match.group(1)))
    match = _STORE_ENTRY.match(text)
    if match:
        return Keyframe(text, store=Path(match.group(1)), entry=match.group(2))
    return Keyframe(text, path=Path(text))


def draws_from_prior(texts: list[str]) -> bool:
    """Whether any of these keyframes is a prior draw (`seed:N`)."""
    return any(parse_keyframe(text).seed is not None for text in texts)


def load_keyframes(texts: list[str]) -> list[Keyframe]:
    """Parse and load every keyframe of a walk (at least two)."""
    if len(texts) < 2:
        raise InputError(f"a walk needs at least two keyframes, got {len(texts)}: "
                         f"give two or more images or seed:N entries")
    stores: dict = {}
    return [load_keyframe(text, stores=stores) for text in texts]


def load_keyframe(text: str, *, stores: dict | None = None) -> Keyframe:
    """Parse and load one keyframe. A job cannot leave one out, so a bad image stops it with
    a message that names it (unlike folder jobs, which skip bad files). `stores` caches the
    latent stores already read."""
    from latentfx.images.loading import image_to_tensor, load_image
    from latentfx.latents.stores import LatentStore

    stores = {} if stores is None else stores
    key = parse_keyframe(text)
    if key.is_image:
        try:
            return Keyframe(text, path=key.path, image=image_to_tensor(load_image(key.path)))
        except BadFile as exc:
            raise InputError(f"keyframe {exc}") from None
    if key.store is not None:
        if key.store not in stores:
            stores[key.store] = LatentStore.load(key.store)
        store = stores[key.store]
        return Keyframe(text, store=key.store, entry=key.entry, model_id=store.model_id,
                        latent=store.latents[store.index(key.entry)][None])
    return key


def prior_latent(model, seed: int, *, height: int, width: int, temperature: float = 1.0,
                 prior: str | None = None) -> torch.Tensor:
    """The latent `seed:N` stands for: a draw from `prior` ("normal": N(0, T^2 I); "data":
    the model's fitted mixture; None: the model's default) made on the CPU, so the same on
    every device. (1, ...)."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    return model.sample_prior(1, height=height, width=width, generator=generator,
                              temperature=temperature, prior=prior)
