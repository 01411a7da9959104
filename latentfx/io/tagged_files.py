"""Our non-model files (latent stores, attribute vectors): tensors in .safetensors plus one
metadata key holding sorted JSON that names the file's format. Read without unpickling."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from latentfx.errors import InputError
from latentfx.io.atomic import atomic_path
from latentfx.io.safetensors_files import check_safetensors

if TYPE_CHECKING:
    import torch

METADATA_KEY = "latentfx"


def write_tagged(path: str | os.PathLike, tensors: dict[str, torch.Tensor], meta: dict) -> Path:
    from safetensors.torch import save_file

    path = Path(path)
    with atomic_path(path) as tmp:
        save_file({k: v.float().contiguous() for k, v in tensors.items()}, str(tmp),
                  metadata={METADATA_KEY: json.dumps(meta, sort_keys=True)})
    return path


def read_tagged(path: str | os.PathLike, *, fmt: str, version: int, what: str,
                how_to_make: str, tensors: bool = True) -> tuple[dict, dict[str, torch.Tensor]]:
    """(metadata, tensors) of a file of format `fmt`; InputError naming the file otherwise.
    tensors=False reads the header only (no tensors: {})."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    check_safetensors(path, what=what)
    try:
        with safe_open(str(path), framework="pt", device="cpu") as fh:
            meta = json.loads((fh.metadata() or {}).get(METADATA_KEY, "{}"))
            if meta.get("format") != fmt:
                raise InputError(f"{path}: a safetensors file, but not a latentfx {what}; "
                                 f"{how_to_make}")
            if meta.get("format_version", 0) > version:
                raise InputError(f"{path}: written by a newer latentfx ({what} format "
                                 f"{meta['format_version']}); upgrade latentfx")
            loaded = {k: fh.get_tensor(k) for k in fh.keys()} if tensors else {}
    except (SafetensorError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: damaged {what} ({exc})") from None
    return meta, loaded
