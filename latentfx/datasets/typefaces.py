"""The typefaces the glyph dataset draws with, and where their TrueType files are.

Every face of the default set ships inside matplotlib (a dependency already): DejaVu Sans,
Sans Mono and Serif and STIX General in four styles each, and five of the Computer Modern
faces. Files are found through matplotlib's own data path, never a machine path, so the set
is the same on every install. More families come from small font packages of the package
index, the optional extra `latentfx[fonts]`: they add real variety (humanist and geometric
sans, two more serifs) but nothing depends on them.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from latentfx.errors import InputError

FONT_SETS = ("matplotlib", "all")
EXTRA = "latentfx[fonts]"


@dataclass(frozen=True)
class Face:
    name: str     # "DejaVu Sans Bold Oblique"
    family: str   # "DejaVu Sans"
    file: str     # inside its source's folder
    bold: bool
    italic: bool  # italic or oblique: the letters lean
    serif: bool
    mono: bool = False
    source: str = "matplotlib"  # or the Python package that ships the file

    @property
    def slug(self) -> str:
        return slug(self.name)


def slug(name: str) -> str:
    """"DejaVu Sans Mono" -> "dejavu_sans_mono": for file and column names."""
    return "_".join(name.lower().replace("-", " ").split())


def _four_styles(family: str, files: tuple[str, str, str, str], *, serif: bool,
                 mono: bool = False, source: str = "matplotlib",
                 slant: str = "Italic") -> list[Face]:
    """Regular, bold, italic and bold italic of one family, files in that order."""
    styles = (("", False, False), (" Bold", True, False), (f" {slant}", False, True),
              (f" Bold {slant}", True, True))
    return [Face(f"{family}{style}", family, file, bold, italic, serif, mono, source)
            for (style, bold, italic), file in zip(styles, files)]


MATPLOTLIB_FACES: tuple[Face, ...] = tuple(
    _four_styles("DejaVu Sans", ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf",
                                 "DejaVuSans-Oblique.ttf", "DejaVuSans-BoldOblique.ttf"),
                 serif=False, slant="Oblique")
    + _four_styles("DejaVu Sans Mono", ("DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf",
                                        "DejaVuSansMono-Oblique.ttf",
                                        "DejaVuSansMono-BoldOblique.ttf"),
                   serif=False, mono=True, slant="Oblique")
    + _four_styles("DejaVu Serif", ("DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf",
                                    "DejaVuSerif-Italic.ttf", "DejaVuSerif-BoldItalic.ttf"),
                   serif=True)
    + _four_styles("STIX General", ("STIXGeneral.ttf", "STIXGeneralBol.ttf",
                                    "STIXGeneralItalic.ttf", "STIXGeneralBolIta.ttf"),
                   serif=True)
    + [
        # Knuth's Computer Modern as matplotlib's mathtext ships it (the BaKoMa conversions).
        # The italic is cmmi10, the math italic: every matplotlib has it (cmti10 is recent).
        Face("Computer Modern Roman", "Computer Modern Roman", "cmr10.ttf", False, False, True),
        Face("Computer Modern Roman Bold", "Computer Modern Roman", "cmb10.ttf", True, False,
             True),
        Face("Computer Modern Roman Italic", "Computer Modern Roman", "cmmi10.ttf", False,
             True, True),
        Face("Computer Modern Sans", "Computer Modern Sans", "cmss10.ttf", False, False, False),
        # Typewriter: monospaced, with slab serifs.
        Face("Computer Modern Typewriter", "Computer Modern Typewriter", "cmtt10.ttf", False,
             False, True, mono=True),
    ]
)

# The optional extra: each package ships one family's files under files/ (ttf/ for Open Sans).
PACKAGE_FACES: tuple[Face, ...] = tuple(
    _four_styles("Lato", ("files/Lato-Regular.ttf", "files/Lato-Bold.ttf",
                          "files/Lato-Italic.ttf", "files/Lato-BoldItalic.ttf"),
                 serif=False, source="font_lato")
    + _four_styles("Source Sans Pro", ("files/SourceSansPro-Regular.ttf",
                                       "files/SourceSansPro-Bold.ttf",
                                       "files/SourceSansPro-It.ttf",
                                       "files/SourceSansPro-BoldIt.ttf"),
                   serif=False, source="font_source_sans_pro")
    + _four_styles("Source Serif Pro", ("files/SourceSerifPro-Regular.ttf",
                                        "files/SourceSerifPro-Bold.ttf",
                                        "files/SourceSerifPro-It.ttf",
                                        "files/SourceSerifPro-BoldIt.ttf"),
                   serif=True, source="font_source_serif_pro")
    + _four_styles("Caladea", ("files/Caladea-Regular.ttf", "files/Caladea-Bold.ttf",
                               "files/Caladea-Italic.ttf", "files/Caladea-BoldItalic.ttf"),
                   serif=True, source="font_caladea")
    + _four_styles("Open Sans", ("ttf/OpenSans-Regular.ttf", "ttf/OpenSans-Bold.ttf",
                                 "ttf/OpenSans-Italic.ttf", "ttf/OpenSans-BoldItalic.ttf"),
                   serif=False, source="ttf_opensans")
)


def font_set(name: str = "matplotlib") -> tuple[Face, ...]:
    """The faces of a named set: "matplotlib" (always there) or "all" (with the extra)."""
    if name not in FONT_SETS:
        raise InputError(f"font set {name!r}: choose one of {', '.join(FONT_SETS)}")
    return MATPLOTLIB_FACES if name == "matplotlib" else MATPLOTLIB_FACES + PACKAGE_FACES


def font_path(face: Face) -> Path:
    """The face's TrueType file on this install; InputError says what to install."""
    path = _source_folder(face.source) / face.file
    if not path.is_file():
        raise InputError(f"{face.name}: {face.file} is missing from {face.source} on this "
                         f"install ({path}); reinstall it")
    return path


@lru_cache(maxsize=None)
def _source_folder(source: str) -> Path:
    if source == "matplotlib":
        import matplotlib

        return Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    spec = importlib.util.find_spec(source)
    if spec is None or not spec.submodule_search_locations:
        raise InputError(f"the fonts of {source} are not installed: pip install '{EXTRA}' "
                         f"(or use the matplotlib font set)")
    return Path(next(iter(spec.submodule_search_locations)))


def missing_characters(face: Face, chars: str) -> str:
    """The characters of `chars` that the face has no glyph for (Pillow would draw a box)."""
    from matplotlib.ft2font import FT2Font

    font = FT2Font(str(font_path(face)))
    return "".join(c for c in chars if font.get_char_index(ord(c)) == 0)
