"""Write-to-temp-then-rename, so a reader never sees a half-written file and a good output is
never replaced by a partial one."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a unique temporary path beside `target`; rename it onto `target` on success.

    The temp file lives in the target's folder (a rename across file systems is not atomic)
    and has a unique name, so two jobs writing the same output never share a temp file.
    On any exception the temp file is removed and `target` is left untouched.
    """
    target = Path(target)
    suffix = target.suffix if suffix is None else suffix  # keep the extension: writers sniff it
    # A random name created with O_EXCL (like mkstemp) but mode 0666, so the umask gives the
    # file the usual permissions (mkstemp would make it 0600).
    tmp_path = target.parent / f".{target.stem}.{secrets.token_hex(6)}.partial{suffix}"
    os.close(os.open(tmp_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()

