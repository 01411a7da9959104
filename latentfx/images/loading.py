"""The one image loader every job uses (DESIGN §2, Images).

Decoding goes through Pillow, which reads the real format from the bytes (a PNG named .jpg
still loads) and exposes width and height before decoding any pixels, so the pixel cap is
enforced before a decompression bomb can allocate anything.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from latentfx.errors import BadFile, InputError, Skipped

# Formats we decode. Everything else (PSD, EPS, ICO, ...) is refused: EPS would run
# Ghostscript, and the rarer decoders are where image-library CVEs live.
ALLOWED_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF", "PPM"})
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff",
                              ".gif", ".ppm", ".pgm", ".pnm"})
DEFAULT_MAX_PIXELS = 64_000_000  # 8000 x 8000; override with LATENTFX_MAX_PIXELS

# Pillow's own bomb check fires inside Image.open with a message that names no file; ours
# runs right after the header is read (still before any pixel is decoded) and says what to do.
Image.MAX_IMAGE_PIXELS = None


def max_pixels() -> int:
    value = os.environ.get("LATENTFX_MAX_PIXELS")
    if value is None:
        return DEFAULT_MAX_PIXELS
    try:
        return int(value)
    except ValueError:
        raise InputError(f"LATENTFX_MAX_PIXELS must be an integer, got {value!r}") from None


def load_image(path: str | os.PathLike, *, at_least: tuple[int, int] | None = None) -> Image.Image:
    """Open any supported image as an 8-bit RGB PIL image, upright per its EXIF orientation.

    at_least: (width, height) the caller will shrink the image to anyway; a JPEG is then
    decoded at the smallest power-of-two reduction still covering it (the decoder skips the
    detail instead of computing it and throwing it away), which is several times faster.
    Raises BadFile naming the file and the reason for anything unusable.
    """
    path = Path(path)
    if not path.exists():
        raise BadFile(path, "no such file")
    if path.is_dir():
        raise BadFile(path, "is a folder, expected an image file")
    if path.stat().st_size == 0:
        raise BadFile(path, "empty file (0 bytes)")
    try:
        with Image.open(path) as img:
            _check_header(path, img)
            img.seek(0)  # animated GIF/WebP/multi-page TIFF: the first frame
            if at_least is not None and img.format == "JPEG":
                img.draft("RGB", _draft_size(img.size, at_least))
            img.load()
            img = ImageOps.exif_transpose(img)
            return to_rgb(img)
    except BadFile:
        raise
    except PermissionError:
        raise BadFile(path, "permission denied; check the file's permissions") from None
    except UnidentifiedImageError:
        raise BadFile(path, "not a readable image (unknown or corrupt format)") from None
    except Exception as exc:  # noqa: BLE001 - decoders raise many types on hostile bytes
        raise BadFile(path, f"cannot decode image ({type(exc).__name__}: {exc}); the file may "
                            f"be truncated or damaged") from None


def check_image_bytes(path: str | os.PathLike, data: bytes) -> None:
    """The cheap check of a file's bytes before any pixel is decoded (format and size from
    the header, as load_image checks them); raises BadFile like load_image. A file that
    passes can still fail to decode later (a truncated body)."""
    import io

    path = Path(path)
    if not data:
        raise BadFile(path, "empty file (0 bytes)")
    try:
        with Image.open(io.BytesIO(data)) as img:
            _check_header(path, img)
    except BadFile:
        raise
    except UnidentifiedImageError:
        raise BadFile(path, "not a readable image (unknown or corrupt format)") from None
    except Exception as exc:  # noqa: BLE001 - header parsers raise many types on hostile bytes
        raise BadFile(path, f"cannot read the image header ({type(exc).__name__}: {exc})") from None


def _draft_size(size: tuple[int, int], at_least: tuple[int, int]) -> tuple[int, int]:
    """The size to ask draft() for so that both sides stay >= at_least whatever the
    orientation (EXIF may swap the sides after decoding)."""
    side = max(at_least)
    scale = max(side / size[0], side / size[1])
    return (max(1, math.ceil(size[0] * scale)), max(1, math.ceil(size[1] * scale)))


def _check_header(path: Path, img: Image.Image) -> None:
    if img.format not in ALLOWED_FORMATS:
        raise BadFile(path, f"format {img.format} is not supported; convert it to PNG or JPEG "
                            f"(supported: {', '.join(sorted(ALLOWED_FORMATS))})")
    w, h = img.size
    cap = max_pixels()
    if w * h > cap:
        raise BadFile(path, f"{w}x{h} is {w * h:,} pixels, over the limit of {cap:,}; "
                            f"downscale it first or raise LATENTFX_MAX_PIXELS")
    if w == 0 or h == 0:
        raise BadFile(path, f"image has no pixels ({w}x{h})")


def load_or_skip(path: str | os.PathLike, skipped: list[Skipped]):
    """The image as a float tensor (3, H, W), or None after recording why it was skipped:
    how every multi-input job keeps one bad file from sinking the rest."""
    try:
        return image_to_tensor(load_image(path))
    except BadFile as exc:
        skipped.append(Skipped(exc.path, exc.reason))
        return None


def to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow mode to 8-bit RGB. Transparency is composited onto white."""
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        return Image.fromarray(_high_depth_to_uint8(np.asarray(img)), "L").convert("RGB")
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif mode in ("LA", "La", "PA", "RGBa"):
        img = img.convert("RGBA")
    if img.mode == "RGBA":
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, img).convert("RGB")
    return img.convert("RGB")  # L, 1, CMYK, YCbCr, LAB, HSV, RGB


def _high_depth_to_uint8(a: np.ndarray) -> np.ndarray:
    """16-bit and float grey images: scale the full range to 0..255 (Pillow's own convert
    clips 16-bit values at 255, which turns most 16-bit photos pure white)."""
    if np.issubdtype(a.dtype, np.floating) and a.max(initial=0) <= 1.0:
        scaled = a.astype(np.float64) * 255.0  # float images in 0..1
    else:
        a = a.astype(np.float64)
        scaled = a / 257.0 if a.max(initial=0) > 255 else a
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def image_to_tensor(img: Image.Image):
    """PIL RGB -> float tensor (3, H, W) in [0, 1]."""
    import torch

    a = np.asarray(img, dtype=np.uint8)
    return torch.from_numpy(a.copy()).permute(2, 0, 1).float().div_(255.0)


def frames_to_tensor(frames: np.ndarray):
    """uint8 (B, H, W, 3) pictures -> float (B, 3, H, W) in [0, 1] (image_to_tensor's values),
    in one operation and in the channels-last layout the models run in."""
    import torch

    return torch.from_numpy(frames).permute(0, 3, 1, 2).float().div_(255.0)


def tensor_to_image(x) -> Image.Image:
    """Float tensor (3, H, W) in [0, 1] -> PIL RGB."""
    a = x.detach().clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(a, "RGB")


def is_image_name(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS
