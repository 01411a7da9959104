"""The glyph dataset: real typefaces found offline, labels that say what was drawn."""

from __future__ import annotations

import csv
import importlib.util

import numpy as np
import pytest
from click.testing import CliRunner

from latentfx.datasets import typefaces
from latentfx.datasets.glyphs import (CAP_HEIGHT, GlyphFactors, glyph_factors, parse_chars,
                                      render, render_glyphs, write_dataset)
from latentfx.datasets.typefaces import MATPLOTLIB_FACES, PACKAGE_FACES, font_path, font_set
from latentfx.errors import InputError


@pytest.fixture(scope="module")
def alphabet():
    """Every matplotlib face's A-Z, exact: (image, labels) pairs."""
    return render_glyphs(size=32)


def ink(image) -> np.ndarray:
    """(H, W) amount of ink in [0, 1]: 1 - grey."""
    return 1 - np.asarray(image.convert("L"), dtype=np.float64) / 255


def by_face(glyphs) -> dict:
    return {(labels["face"], labels["char"]): image for image, labels in glyphs}


def test_every_face_is_found_offline_with_every_letter_and_digit():
    assert len(MATPLOTLIB_FACES) == 21
    for face in MATPLOTLIB_FACES:
        assert font_path(face).is_file(), face
        assert typefaces.missing_characters(face, parse_chars("A-Za-z0-9")) == "", face.name


def test_labels_say_what_was_drawn(alphabet):
    assert len(alphabet) == 21 * 26
    for image, labels in alphabet:
        assert image.size == (32, 32) and image.mode == "RGB"
        chars = [k for k in labels if k.startswith("char_")]
        assert len(chars) == 26 and sum(labels[k] for k in chars) == 1
        assert labels[f"char_{labels['char']}"] == 1
        families = [k for k in labels if k.startswith("family_")]
        assert sum(labels[k] for k in families) == 1
        name = labels["face"]
        assert labels["bold"] == int("Bold" in name)
        assert labels["italic"] == int("Italic" in name or "Oblique" in name)
        assert labels["serif"] == int("Serif" in name or "STIX" in name or "Roman" in name
                                      or "Typewriter" in name)


def test_bold_faces_carry_more_ink_than_their_regular(alphabet):
    drawn = by_face(alphabet)
    pairs = [(f, b) for f in MATPLOTLIB_FACES for b in MATPLOTLIB_FACES
             if b.bold and not f.bold and f.family == b.family and f.italic == b.italic]
    assert len(pairs) == 9
    for regular, bold in pairs:
        for char in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
            light, heavy = ink(drawn[regular.name, char]).sum(), ink(drawn[bold.name, char]).sum()
            assert heavy > 1.1 * light, (bold.name, char)


def test_italic_faces_lean_right(alphabet):
    """The stem of an I: its top half's ink sits right of its bottom half's in italics."""
    drawn = by_face(alphabet)
    for face in MATPLOTLIB_FACES:
        amount = ink(drawn[face.name, "I"])
        rows = np.nonzero(amount.sum(1) > 0.5)[0]
        middle = (rows[0] + rows[-1]) // 2
        columns = np.arange(amount.shape[1])

        def centre(part):
            return (part.sum(0) * columns).sum() / part.sum()

        lean = centre(amount[:middle]) - centre(amount[middle:])
        assert (lean > 1.0) == face.italic, (face.name, lean)


def test_glyphs_are_centred_at_one_cap_height_per_face(alphabet):
    drawn = by_face(alphabet)
    for face in MATPLOTLIB_FACES:
        for char in "HOX":
            rows, cols = np.nonzero(ink(drawn[face.name, char]) > 0.5)
            assert abs((rows.min() + rows.max()) / 2 - 15.5) <= 1.0, (face.name, char)
            assert abs((cols.min() + cols.max()) / 2 - 15.5) <= 1.0, (face.name, char)
        rows = np.nonzero(ink(drawn[face.name, "H"]).max(1) > 0.5)[0]
        assert abs(len(rows) - CAP_HEIGHT * 32) <= 1.5, face.name


def test_glyphs_are_a_pure_function_of_the_seed():
    def pictures(seed, faces="matplotlib"):
        return [np.asarray(im) for im, _ in render_glyphs(chars="AQ", faces=faces, copies=2,
                                                          seed=seed, size=24)]

    first, again, other = pictures(3), pictures(3), pictures(4)
    assert all((a == b).all() for a, b in zip(first, again))
    assert sum((a != b).any() for a, b in zip(first, other)) > len(first) // 2
    # Seeded by the face's name: choosing fewer faces changes none of the others.
    stix = [f for f in MATPLOTLIB_FACES if f.family == "STIX General"]
    start = MATPLOTLIB_FACES.index(stix[0]) * 4
    assert all((a == b).all() for a, b in zip(pictures(3, stix), first[start:start + 16]))


def test_jitter_moves_scales_and_turns_within_its_bounds():
    factors = glyph_factors(chars="A-Z", copies=3, seed=1)
    assert len(factors) == 21 * 26 * 3
    assert max(abs(f.scale - 1) for f in factors) <= 0.08
    assert max(abs(f.shift_x) for f in factors) <= 0.06
    assert max(abs(f.rotation) for f in factors) <= 3.0
    assert np.std([f.rotation for f in factors]) > 1.0
    exact = glyph_factors(chars="A")
    assert all((f.scale, f.shift_x, f.shift_y, f.rotation) == (1, 0, 0, 0) for f in exact)
    # Even the largest scale and shift keep the ink inside the picture.
    face = next(f for f in MATPLOTLIB_FACES if f.name == "DejaVu Serif Bold Italic")
    amount = ink(render(GlyphFactors(face, "M", 0, scale=1.08, shift_x=0.06, rotation=3),
                        size=32))
    assert amount[:, -1].max() < 0.05 and amount[:, :1].max() < 0.05


def test_parse_chars_expands_ranges_and_refuses_punctuation():
    assert parse_chars("A-E") == "ABCDE"
    assert parse_chars("a-cA-C0-1b") == "abcABC01"
    for bad in ("A-Z?", "", "Z-A", "é"):
        with pytest.raises(InputError):
            parse_chars(bad)


@pytest.mark.parametrize("settings", [dict(copies=3, jitter=0), dict(copies=0),
                                      dict(jitter=-1), dict(faces="helvetica"), dict(size=8),
                                      dict(faces=[])])
def test_settings_that_cannot_work_are_refused(settings):
    with pytest.raises(InputError):
        render_glyphs(chars="A", **settings)


def test_the_optional_font_packages_work_or_say_what_to_install():
    installed = all(importlib.util.find_spec(f.source) for f in PACKAGE_FACES)
    if installed:
        glyphs = render_glyphs(chars="Ag", faces=font_set("all"), size=24)
        assert len(glyphs) == 41 * 2
    else:
        with pytest.raises(InputError, match=r"latentfx\[fonts\]"):
            render_glyphs(chars="A", faces="all")


def test_write_dataset_writes_every_image_with_its_row(tmp_path):
    labels = write_dataset(tmp_path / "g", chars="Ab", copies=2, seed=5, size=20)
    with open(labels, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 21 * 2 * 2
    names = {r["path"] for r in rows}
    assert names == {p.name for p in (tmp_path / "g").glob("*.png")}
    assert len({n.lower() for n in names}) == len(names)  # A and b apart on any file system
    assert {"char_A", "char_b", "bold", "italic", "serif", "family"} <= set(rows[0])
    with pytest.raises(InputError, match="not empty"):
        write_dataset(tmp_path / "g", chars="A")


def test_glyphs_command(tmp_path):
    import cli

    def invoke(*args):
        return CliRunner().invoke(cli.cli, ["glyphs", *map(str, args)], catch_exceptions=False)

    result = invoke(tmp_path / "g", "--chars", "AB", "--size", 24, "--copies", 2)
    assert result.exit_code == 0, result.output
    assert "wrote 84 images" in result.output
    assert len(list((tmp_path / "g").glob("*.png"))) == 84
    bad = invoke(tmp_path / "h", "--chars", "A,B")
    assert bad.exit_code == 3 and "--chars" in bad.output
    assert not (tmp_path / "h").exists()
