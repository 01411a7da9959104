"""Labels for the images of a folder: a CSV (a `path` column and numeric columns) or the
names of its sub-folders. `encode` keeps them in a latent store (attribute vectors read
them); `train --labels` guides a vector model's latent space with their 0/1 columns."""

from __future__ import annotations

import csv
from pathlib import Path

from latentfx.errors import InputError


def folder_labels(paths: list[str]) -> tuple[list[str], list[list[float]]]:
    """One 0/1 attribute per top-level sub-folder, from relative paths: (names, rows)."""
    names = sorted({p.split("/")[0] for p in paths if "/" in p})
    return names, [[float(p.split("/")[0] == n) for n in names] for p in paths]


def csv_labels(table: str | Path, paths: list[str]) -> tuple[list[str], list[list[float]]]:
    """(names, rows) of the numeric columns of `table`, one row per path (relative, posix).
    Raises InputError naming the file when it has no `path` column, no numeric column, or no
    row for one of the paths."""
    names, by_path = _numeric_table(table)
    missing = [p for p in paths if p not in by_path]
    if missing:
        raise InputError(f"{table}: no row for {len(missing)} image(s), e.g. {missing[0]}; "
                         f"add rows for them (paths relative to the image folder)")
    return names, [[by_path[p][n] for n in names] for p in paths]


def check_label_table(table: str | Path) -> list[str]:
    """The label columns (0s and 1s) of `table`, read with the csv module alone (before any
    heavy import); InputError naming the file when it has none."""
    names, by_path = _numeric_table(table)
    rows = list(by_path.values())
    labels = [names[j] for j in binary_columns(names, [[r[n] for n in names] for r in rows])]
    if not labels:
        raise InputError(f"{table}: no label column (a column of 0s and 1s, with both); its "
                         f"numeric columns are {', '.join(names)}")
    return labels


def _numeric_table(table: str | Path) -> tuple[list[str], dict[str, dict[str, float]]]:
    """(numeric column names, {path: {name: value}}) of a CSV with a `path` column."""
    if not Path(table).is_file():
        raise InputError(f"{table}: no such labels file")
    try:
        with open(table, newline="", encoding="utf-8-sig") as fh:  # -sig: a BOM is no name
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{table}: cannot read it as a CSV file ({exc})") from None
    if not rows or "path" not in rows[0]:
        raise InputError(f"{table}: needs a header row with a `path` column")
    short = next((i for i, r in enumerate(rows, 2) if None in r.values()), None)
    if short is not None:
        raise InputError(f"{table}: line {short} has fewer values than the header has columns")
    names = [c for c in rows[0] if c != "path" and all(_is_number(r[c]) for r in rows)]
    if not names:
        raise InputError(f"{table}: no numeric attribute columns")
    return names, {Path(r["path"]).as_posix(): {n: float(r[n]) for n in names} for r in rows}


def binary_columns(names: list[str], rows: list[list[float]]) -> list[int]:
    """Indices of the columns that hold only 0 and 1 and both (labels, not measurements
    such as a size or a position)."""
    out = []
    for j in range(len(names)):
        values = {row[j] for row in rows}
        if values == {0.0, 1.0}:
            out.append(j)
    return out


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False
