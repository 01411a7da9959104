"""Latent stores: the latents of a folder of images, in one .safetensors file (DESIGN §2).

Tensors: `latents` (N, ...) posterior means, `pooled` (N, F) the encoder's pooled features
(latentfx/features/pooled.py; stores made before them have none), and `labels` (N, A) when
the images have attributes. One metadata key, `latentfx`, holds sorted JSON: the format, the
model id the latents belong to, the size and fit the images were encoded at, each image's
path relative to the folder (so the store survives moving the folder) with its content hash
(so a re-run encodes only what changed), the attribute names, the recipe of the pooled
features, and what was skipped and why.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from latentfx.errors import InputError
from latentfx.io.tagged_files import read_tagged, write_tagged

STORE_FORMAT = "latentfx-store"
STORE_VERSION = 1


@dataclass
class LatentStore:
    latents: torch.Tensor              # (N, ...) float32
    paths: list[str]                   # relative to the folder, posix separators
    hashes: list[str]                  # sha256 of each file's bytes
    model_id: str
    size: tuple[int, int]              # (width, height) the images were fitted to
    fit: str
    attributes: list[str] = field(default_factory=list)
    labels: torch.Tensor | None = None  # (N, A) float32, 0/1 per attribute
    skipped: list[dict] = field(default_factory=list)
    folder: str = ""
    pooled: torch.Tensor | None = None        # (N, F) float32
    pooled_recipe: dict | None = None         # the features.pooled.RECIPE they were made with

    def __post_init__(self):
        if len(self.paths) != len(self.latents) or len(self.hashes) != len(self.paths):
            raise ValueError("a store needs one path and one hash per latent")
        if self.pooled is not None and len(self.pooled) != len(self.paths):
            raise ValueError("a store needs pooled features for every latent, or none")

    def __len__(self) -> int:
        return len(self.paths)

    def index(self, path: str) -> int:
        try:
            return self.paths.index(Path(path).as_posix())
        except ValueError:
            raise InputError(f"{path!r} is not in this store ({len(self)} images; e.g. "
                             f"{', '.join(self.paths[:3])})") from None

    def require_model(self, model_id: str, *, store_path: str | os.PathLike = "store") -> None:
        if model_id != self.model_id:
            raise InputError(f"{store_path}: its latents were made with model "
                             f"{self.model_id[:16]}, not with this one ({model_id[:16]}); "
                             f"encode the folder again with this model")

    def save(self, path: str | os.PathLike) -> Path:
        meta = {"format": STORE_FORMAT, "format_version": STORE_VERSION,
                "model_id": self.model_id, "size": list(self.size), "fit": self.fit,
                "paths": self.paths, "hashes": self.hashes, "attributes": self.attributes,
                "skipped": self.skipped, "folder": self.folder, "count": len(self),
                "pooled": self.pooled_recipe}
        tensors = {"latents": self.latents}
        if self.labels is not None:
            tensors["labels"] = self.labels
        if self.pooled is not None:
            tensors["pooled"] = self.pooled
        return write_tagged(path, tensors, meta)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "LatentStore":
        meta, tensors = _read(path)
        return cls(latents=tensors["latents"], paths=meta["paths"], hashes=meta["hashes"],
                   model_id=meta["model_id"], size=tuple(meta["size"]), fit=meta["fit"],
                   attributes=meta.get("attributes", []), labels=tensors.get("labels"),
                   skipped=meta.get("skipped", []), folder=meta.get("folder", ""),
                   pooled=tensors.get("pooled"), pooled_recipe=meta.get("pooled"))


def _read(path: str | os.PathLike, *, tensors: bool = True):
    return read_tagged(path, fmt=STORE_FORMAT, version=STORE_VERSION, what="latent store",
                       how_to_make=f"make one with `latentfx encode FOLDER -o {path}`",
                       tensors=tensors)


def recorded_pictures(path: str | os.PathLike) -> tuple[str, list[str]]:
    """(the image folder a store recorded, its entries' paths relative to it), read from its
    header alone (no latents loaded)."""
    meta = _read(path, tensors=False)[0]
    return meta.get("folder", ""), list(meta.get("paths", []))
