"""Write-to-temp-then-rename, so a reader never sees a half-written file and a good output is
never replaced by a partial one."""

from __future__ import annotations

import contextlib
import os
import tempfile
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
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".partial{suffix}",
                               dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual mode
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _umask() -> int:
    mask = os.umask(0)  # the only portable way to read it is to set it
    os.umask(mask)
    return mask
