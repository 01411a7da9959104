"""Where an attribute vector named on the command line is: `red` finds red, red.safetensors
or red.vec.safetensors, the first that exists (the README writes vectors as
red.safetensors; older examples as red.vec.safetensors). No torch here: the CLI resolves
names before it loads anything."""

from __future__ import annotations

from pathlib import Path

from latentfx.errors import InputError

SUFFIXES = ("", ".safetensors", ".vec.safetensors")


def vector_file(name: str) -> str:
    """The first of FILE, FILE.safetensors, FILE.vec.safetensors that is a file."""
    suffixed = name.endswith(".safetensors")
    tried = [name] if suffixed else [name + suffix for suffix in SUFFIXES]
    for candidate in tried:
        if Path(candidate).is_file():
            return candidate
    made = name if suffixed else f"{name}.safetensors"
    raise InputError(f"no attribute vector {name!r}: tried {', '.join(tried)}; make one with "
                     f"`latentfx vector ... -o {made}`")
