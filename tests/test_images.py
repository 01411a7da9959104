import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from latentfx.errors import InputError
from latentfx.images.folders import scan_folder
from latentfx.images.loading import load_image


def rgb_array(h=12, w=16):
    a = np.zeros((h, w, 3), np.uint8)
    a[..., 0] = np.linspace(0, 255, w, dtype=np.uint8)
    a[..., 2] = 200
    return a


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(InputError, match=r"empty\.jpg: empty file"):
        load_image(path)


def test_truncated_jpeg(tmp_path):
    buf = io.BytesIO()
    Image.fromarray(rgb_array(64, 64)).save(buf, format="JPEG")
    path = tmp_path / "cut.jpg"
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 3])
    with pytest.raises(InputError, match=r"cut\.jpg: cannot decode.*truncated"):
        load_image(path)


def test_text_file_with_an_image_extension(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("these are not pixels")
    with pytest.raises(InputError, match=r"notes\.png: not a readable image"):
        load_image(path)


def test_png_named_jpg_loads_by_content(tmp_path):
    path = tmp_path / "actually-png.jpg"
    Image.fromarray(rgb_array()).save(path, format="PNG")
    assert np.array_equal(np.asarray(load_image(path)), rgb_array())


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    path = tmp_path / "cmyk.jpg"
    Image.fromarray(rgb_array()).convert("CMYK").save(path, format="JPEG", quality=95)
    img = load_image(path)
    assert img.mode == "RGB" and img.size == (16, 12)
    assert abs(int(np.asarray(img)[..., 2].mean()) - 200) < 20


def test_16_bit_grey_is_scaled_not_clipped(tmp_path):
    path = tmp_path / "deep.png"
    a = np.full((8, 8), 32768, np.uint16)  # half of the 16-bit range
    Image.fromarray(a).save(path)
    out = np.asarray(load_image(path))
    assert out.shape == (8, 8, 3)
    assert 120 <= out.mean() <= 135  # mid grey, not clipped to white


def test_alpha_is_composited_on_white(tmp_path):
    path = tmp_path / "alpha.png"
    a = np.zeros((4, 4, 4), np.uint8)
    a[..., 0] = 255  # red, fully transparent
    Image.fromarray(a, "RGBA").save(path)
    assert np.all(np.asarray(load_image(path)) == 255)


def test_palette_with_transparency_and_grey_alpha(tmp_path):
    p = Image.new("P", (4, 4), 1)
    p.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    p.info["transparency"] = 0
    p.save(tmp_path / "pal.png", transparency=0)
    assert tuple(np.asarray(load_image(tmp_path / "pal.png"))[0, 0]) == (255, 0, 0)
    Image.new("LA", (3, 3), (10, 255)).save(tmp_path / "la.png")
    assert tuple(np.asarray(load_image(tmp_path / "la.png"))[0, 0]) == (10, 10, 10)


def test_animated_gif_gives_its_first_frame(tmp_path):
    frames = [Image.new("RGB", (6, 6), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=50)
    out = np.asarray(load_image(tmp_path / "anim.gif"))
    assert out[0, 0, 0] > 200 and out[0, 0, 1] < 50


def test_exif_orientation_is_applied(tmp_path):
    path = tmp_path / "rotated.jpg"
    img = Image.fromarray(rgb_array(10, 20))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    img.save(path, exif=exif, quality=95)
    assert load_image(path).size == (10, 20)  # width and height swapped


def _png_declaring(width, height) -> bytes:
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 10)) + chunk(b"IEND", b""))


def test_pixel_bomb_is_refused_before_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_declaring(20000, 20000))
    assert path.stat().st_size < 200
    with pytest.raises(InputError, match=r"bomb\.png: 20000x20000 .* over the limit"):
        load_image(path)


def test_pixel_cap_is_configurable(tmp_path, monkeypatch):
    path = tmp_path / "small.png"
    Image.fromarray(rgb_array()).save(path)
    monkeypatch.setenv("LATENTFX_MAX_PIXELS", "100")
    with pytest.raises(InputError, match="LATENTFX_MAX_PIXELS"):
        load_image(path)


def test_formats_outside_the_allow_list_are_refused(tmp_path):
    path = tmp_path / "icon.jpg"
    Image.new("RGB", (16, 16)).save(path, format="ICO")
    with pytest.raises(InputError, match="format ICO is not supported"):
        load_image(path)


def test_unicode_names_load(tmp_path):
    path = tmp_path / "café — 写真.png"
    Image.fromarray(rgb_array()).save(path)
    assert load_image(path).size == (16, 12)


def test_scan_skips_symlinks_out_of_the_folder_and_sorts(tmp_path):
    outside = tmp_path / "secret.png"
    Image.new("RGB", (4, 4)).save(outside)
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    for name in ("b.png", "a.jpg", "sub/c.png"):
        Image.new("RGB", (4, 4)).save(folder / name)
    (folder / "notes.txt").write_text("ignored")
    (folder / "link.png").symlink_to(outside)
    (folder / "inside-link.png").symlink_to(folder / "b.png")
    found, skipped = scan_folder(folder)
    assert [p.relative_to(folder).as_posix() for p in found] == [
        "a.jpg", "b.png", "inside-link.png", "sub/c.png"]
    assert [(s.path.endswith("link.png"), "outside" in s.reason) for s in skipped] == [(True, True)]


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load_image(tmp_path / "gone.jpg")
    with pytest.raises(InputError, match="is a folder"):
        load_image(tmp_path)
    with pytest.raises(InputError, match="no such folder"):
        scan_folder(tmp_path / "nowhere")
