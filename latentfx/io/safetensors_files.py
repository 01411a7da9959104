"""What latentfx reads of a .safetensors file without torch: its kind, its hash, its header.

Kept free of torch so a command can check the files it was given, and read a model's
config, before the seconds that importing torch costs (argument errors come first)."""

from __future__ import annotations

import hashlib
import json
import os
import struct
from pathlib import Path

from latentfx.errors import CheckpointError, InputError

MAX_HEADER_BYTES = 100 * 1024 * 1024  # safetensors' own limit on the JSON header


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_safetensors(path: Path, *, what: str = "model file") -> None:
    """Reject files that are not safetensors before handing them to any parser."""
    error = CheckpointError if what == "model file" else InputError
    if not path.exists():
        raise error(f"{path}: no such {what}")
    if path.is_dir():
        raise error(f"{path}: is a folder, expected a .safetensors {what}")
    with open(path, "rb") as fh:
        head = fh.read(9)
    if len(head) == 9 and head[8:9] == b"{":
        (header_len,) = struct.unpack("<Q", head[:8])
        if header_len <= MAX_HEADER_BYTES and 8 + header_len <= path.stat().st_size:
            return
        raise error(f"{path}: damaged or truncated safetensors file "
                    f"(header of {header_len} bytes does not fit in the file)")
    if head[:2] == b"PK" or (head[:1] == b"\x80" and head[1:2] in b"\x02\x03\x04\x05"):
        raise error(
            f"{path}: this is a pickled PyTorch checkpoint; latentfx never unpickles files "
            f"(it can run arbitrary code). Use a .safetensors {what} written by latentfx."
        )
    raise error(f"{path}: not a safetensors file; a latentfx {what} is a .safetensors file "
                f"written by latentfx")


def header_metadata(path: str | os.PathLike, *, what: str = "model file") -> dict[str, str]:
    """The file's `__metadata__` (string to string), read from its JSON header alone: no
    tensor is read and torch is not imported."""
    return read_header(path, what=what)[1]


def read_header(path: str | os.PathLike, *,
                what: str = "model file") -> tuple[dict[str, dict], dict[str, str]]:
    """(tensor name -> {dtype, shape, data_offsets}, `__metadata__`) from the file's JSON
    header alone: what a file holds, told by names and shapes without reading a tensor."""
    path = Path(path)
    check_safetensors(path, what=what)
    error = CheckpointError if what == "model file" else InputError
    with open(path, "rb") as fh:
        (header_len,) = struct.unpack("<Q", fh.read(8))
        raw = fh.read(header_len)
    try:
        header = json.loads(raw)
        metadata = header.pop("__metadata__", {}) if isinstance(header, dict) else None
        if not isinstance(metadata, dict):
            raise ValueError("its header is not a JSON object of tensors and metadata")
    except ValueError as exc:
        raise error(f"{path}: damaged safetensors header ({exc})") from None
    return header, metadata
