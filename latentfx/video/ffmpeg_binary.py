"""Which ffmpeg to run: LATENTFX_FFMPEG if set, else the static binary that ships inside the
imageio-ffmpeg wheel, so a plain `pip install` is enough (no system ffmpeg needed)."""

from __future__ import annotations

import functools
import os
import shutil

from latentfx.errors import LatentfxError


@functools.lru_cache(maxsize=None)
def ffmpeg_exe() -> str:
    override = os.environ.get("LATENTFX_FFMPEG")
    if override:
        found = shutil.which(override)
        if not found:
            raise LatentfxError(f"LATENTFX_FFMPEG={override!r} is not an executable; point it at "
                                f"an ffmpeg binary or unset it to use the bundled one")
        return found
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError) as exc:
        raise LatentfxError(f"no ffmpeg binary found ({exc}); reinstall latentfx (it depends on "
                            f"imageio-ffmpeg) or set LATENTFX_FFMPEG to an ffmpeg binary") from None


def ffmpeg_file(path: str | os.PathLike) -> str:
    """How to name a file to ffmpeg, for reading or writing: absolute, with the file:
    protocol, so a name with a colon (clip:1.mp4) is not taken for a protocol."""
    return "file:" + os.path.abspath(path)
