"""The command line's CSV files: reading (header, delimiter, numeric cells with their row and
column in errors, class labels), writing (a file or standard output) and checking before any
work that an output path can be written. Expected failures raise :class:`CliError`, which the
command line reports as one line."""

from __future__ import annotations

import csv
import io
import os
import sys
from typing import Any, List, Sequence, Tuple

import numpy as np

__all__ = [
    "CliError",
    "read_csv",
    "column_index",
    "numeric",
    "class_labels",
    "check_not_labels",
    "write_csv",
    "found_columns",
    "check_writable",
    "STDOUT",
]

#: The output path that means standard output (``-o -``).
STDOUT = "-"
_OTHER_DELIMITERS = ";\t|"


class CliError(Exception):
    """An expected failure, reported as one line."""


# ---- CSV -------------------------------------------------------------------------------------


def _delimiter(header_line: str) -> str:
    """',' unless the header row holds no comma but does hold ';', a tab or '|' (then the most
    frequent of those), so a file written with another separator reads as it was meant."""
    if "," in header_line:
        return ","
    counts = {d: header_line.count(d) for d in _OTHER_DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def read_csv(path: str) -> Tuple[List[str], "Rows"]:
    """(header, rows) of a CSV file with a header row; every row has the header's width. The
    delimiter is ',' or, when the header has no comma, ';', tab or '|'."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            text = f.read()
        first = text.lstrip("\r\n").split("\n", 1)[0]
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(first))
        rows, lines = [], []  # the rows that are not blank, and the file line each ends on
        for r in reader:
            if r:
                rows.append(r)
                lines.append(reader.line_num)
    except FileNotFoundError:
        raise CliError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CliError(f"{path}: is a directory, not a CSV file") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise CliError(f"{path}: cannot read CSV: {exc}") from None
    if not rows:
        raise CliError(f"{path}: the file is empty (a header row is needed)")
    header = [h.strip() for h in rows[0]]
    if len(set(header)) != len(header):
        dup = next(h for h in header if header.count(h) > 1)
        raise CliError(f"{path}: column {dup!r} appears twice in the header")
    body = Rows(rows[1:], lines[1:])
    if not body:
        raise CliError(f"{path}: no data rows after the header")
    for i, r in enumerate(body):
        if len(r) != len(header):
            raise CliError(
                f"{path}: row {body.line(i)} has {len(r)} fields, the header has {len(header)}"
            )
    return header, body


class Rows(List[List[str]]):
    """A CSV file's data rows, each with the file line it is on, for the messages: "row N" is
    line N of the file (the header is row 1), blank lines counted."""

    def __init__(self, rows: List[List[str]], lines: List[int]) -> None:
        super().__init__(rows)
        self.lines = lines

    def line(self, i: int) -> int:
        return self.lines[i]

    def place(self, path: str, i: int, column: str) -> str:
        """Where row i's cell of ``column`` is, for a message: "data.csv: row 7, column 'x'"."""
        return f"{path}: row {self.line(i)}, column {column!r}"


def found_columns(header: List[str]) -> str:
    """The header's columns, for an error message; with a single column, a delimiter hint."""
    text = (
        f"the header has {len(header)} column{'s' if len(header) != 1 else ''}: "
        f"{', '.join(map(repr, header))}"
    )
    if len(header) == 1:
        text += (
            " (if the file is not comma-separated, its delimiter was not recognised: "
            "chainrule reads ',' and, in a header without commas, ';', tab or '|')"
        )
    return text


def column_index(path: str, header: List[str], name: str) -> int:
    if name not in header:
        raise CliError(f"{path}: unknown column {name!r}; {found_columns(header)}")
    return header.index(name)


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def numeric(path: str, header: List[str], rows: Rows, columns: Sequence[int]) -> np.ndarray:
    """The given columns as a float64 matrix; a non-numeric cell is an error naming its place."""
    out = np.empty((len(rows), len(columns)))
    for i, r in enumerate(rows):
        for j, c in enumerate(columns):
            cell = r[c].strip()
            try:
                value = float(cell)
            except ValueError:
                raise CliError(
                    f"{rows.place(path, i, header[c])}: {cell!r} is not a number"
                ) from None
            if not np.isfinite(value):
                raise CliError(f"{rows.place(path, i, header[c])}: {cell!r} is not a finite number")
            out[i, j] = value
    return out


def class_labels(path: str, header: List[str], rows: Rows, column: int) -> List[str]:
    """The column's cells as class labels (stripped); an empty cell is an error naming its
    place, as it is in a numeric column, not a class of its own."""
    labels = [r[column].strip() for r in rows]
    for i, label in enumerate(labels):
        if not label:
            raise CliError(
                f"{rows.place(path, i, header[column])}: an empty cell is not a class label"
            )
    return labels


def check_not_labels(path: str, header: List[str], rows: List[List[str]], column: int) -> None:
    """A regression target that mostly holds text is a column of class labels (empty cells
    are left to :func:`numeric`, which names the first)."""
    cells = [c for c in (r[column].strip() for r in rows) if c]
    text = [c for c in cells if not _is_number(c)]
    if text and 2 * len(text) >= len(cells):
        examples = list(dict.fromkeys(text))[:2]
        raise CliError(
            f"{path}: column {header[column]!r} holds labels such as "
            f"{' and '.join(map(repr, examples))}: use --loss cross_entropy for "
            "classification"
        )


def write_csv(path: str, header: List[str], columns: List[Sequence[Any]]) -> None:
    """Writes the columns under ``header`` to ``path``, or to standard output for ``-``."""

    def write(f: Any) -> None:
        w = csv.writer(f)
        w.writerow(header)
        for row in zip(*columns):
            w.writerow([repr(float(v)) if isinstance(v, (float, np.floating)) else v for v in row])

    if path == STDOUT:
        write(sys.stdout)
        sys.stdout.flush()
        return
    try:
        with open(path, "w", newline="", encoding="utf-8") as f:
            write(f)
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror or exc}") from None


def check_writable(path: str, option: str) -> None:
    """Fails now, naming ``path`` as the user gave it, if a file cannot be written there
    (checked before any training, so no work is lost)."""
    if os.path.isdir(path):
        raise CliError(f"cannot write {option} {path}: it is a directory")
    folder = os.path.dirname(path) or "."
    if not os.path.isdir(folder):
        raise CliError(f"cannot write {option} {path}: no such directory {folder!r}")
    existed = os.path.exists(path)
    try:
        with open(path, "ab"):
            pass
    except OSError as exc:
        raise CliError(f"cannot write {option} {path}: {exc.strerror or exc}") from None
    finally:
        if not existed and os.path.exists(path):
            os.remove(path)
    if not os.access(folder, os.W_OK | os.X_OK):  # a model is saved via a file beside it
        raise CliError(f"cannot write {option} {path}: the directory {folder!r} is not writable")
