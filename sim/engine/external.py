"""Numbers a model reads from spreadsheets: the GET XLS and GET DIRECT families.

``GET XLS CONSTANTS('file.xlsx', 'sheet', 'B2')`` and ``GET DIRECT
CONSTANTS('file.csv', ',', 'B2')`` give a constant (or a constant array, read
along a row from the cell, down a column with ``B2*``, or as a block for two
ranges); ``GET ... LOOKUPS(file, sheet, x row or column, first cell)`` a
lookup table; ``GET ... DATA(file, sheet, time row or column, first cell)``
a data variable (``name := GET XLS DATA(...)``), which brainsim runs as a
lookup of Time, interpolated and held at its ends as PySD does. The reading
follows PySD's ``pysd/py_backend/external.py``: a series in a row is given
by the row's number, in a column by its letter, and runs until the first
empty cell. ``.xlsx`` files are read with openpyxl, ``.csv``/``.tab``/
``.txt`` with the standard library (the second argument is the delimiter).
Everything is read when the model is read: a run never touches the files.
"""

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from sim.engine.errors import ModelError

CALL = re.compile(
    r"\s*GET\s+(?P<family>XLS|DIRECT)\s+(?P<kind>CONSTANTS|LOOKUPS|DATA)\s*\("
    r"(?P<args>(?:\s*'[^']*'\s*,?)*)\)\s*",
    re.IGNORECASE,
)
_CELL = re.compile(r"([A-Za-z]+)(\d+)(\*?)")


@dataclass(frozen=True)
class Reference:
    """One GET XLS/DIRECT call: what it reads, and from where."""

    kind: str  # constants, lookups or data
    file: Path
    sheet: str
    args: tuple


def parse_call(path: str, owner: str, text: str) -> Reference | None:
    """Return the GET XLS/DIRECT call that ``text`` is (the whole of it), or ``None``."""
    text = re.sub(r"\\\s*\n", " ", text).strip()
    if text.startswith("(") and text.endswith(")"):
        text = text[1:-1]  # a lookup definition: name( GET XLS LOOKUPS(...) )
    found = CALL.fullmatch(text)
    if found is None:
        return None
    args = tuple(re.findall(r"'([^']*)'", found.group("args")))
    kind = found.group("kind").lower()
    wanted = 3 if kind == "constants" else 4
    if len(args) != wanted:
        raise ModelError(
            f"{path}: '{owner}' calls GET {found.group('family').upper()} {kind.upper()} with "
            f"{len(args)} arguments; it takes {wanted} quoted texts"
        )
    file = Path(path).parent / args[0]
    return Reference(kind, file, args[1], args[2:])


def read_grid(path: str, owner: str, ref: Reference) -> list:
    """Return the sheet as rows of cells (``None`` where empty).

    Raises
    ------
    ModelError
        The file or sheet is missing or unreadable.
    """
    if not ref.file.is_file():
        raise ModelError(
            f"{path}: '{owner}' reads '{ref.file.name}', which is not beside the model "
            f"({ref.file}); put the file there or fix its name"
        )
    if ref.file.suffix.lower() in (".xlsx", ".xlsm"):
        import openpyxl

        try:
            book = openpyxl.load_workbook(ref.file, read_only=True, data_only=True)
        except Exception as err:  # openpyxl raises many kinds on a damaged file
            raise ModelError(f"{path}: '{owner}' cannot read '{ref.file.name}': {err}") from None
        if ref.sheet not in book.sheetnames:
            raise ModelError(
                f"{path}: '{owner}' reads sheet '{ref.sheet}' of '{ref.file.name}', which has "
                f"only {', '.join(book.sheetnames)}"
            )
        rows = [list(r) for r in book[ref.sheet].iter_rows(values_only=True)]
        book.close()
        return rows
    delimiter = "\t" if ref.sheet in ("\\t", "tab") else ref.sheet
    try:
        with open(ref.file, newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh, delimiter=delimiter))
    except (UnicodeDecodeError, csv.Error, TypeError) as err:
        raise ModelError(
            f"{path}: '{owner}' cannot read '{ref.file.name}' as text with the delimiter "
            f"{ref.sheet!r} ({err}); save it as UTF-8 and give a one-character delimiter"
        ) from None
    return [[c if c.strip() else None for c in row] for row in rows]


def _number(path, owner, ref, value, where) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ModelError(
            f"{path}: '{owner}' reads cell {where} of '{ref.file.name}', which holds "
            f"{value!r}, not a number"
        ) from None


def _cell(path: str, owner: str, text: str) -> tuple:
    found = _CELL.fullmatch(text.strip())
    if found is None:
        raise ModelError(
            f"{path}: '{owner}' gives the cell '{text}'; give a cell like 'B2' "
            "(named cell ranges are not supported)"
        )
    col = 0
    for ch in found.group(1).upper():
        col = col * 26 + ord(ch) - ord("A") + 1
    return int(found.group(2)) - 1, col - 1, bool(found.group(3))


def _at(grid: list, row: int, col: int):
    if row < len(grid) and col < len(grid[row]):
        return grid[row][col]
    return None


def constants(path: str, owner: str, ref: Reference, shape: tuple) -> list:
    """Return ``shape`` (rows, columns) numbers from the cell on, as rows.

    A one-dimensional array (``shape`` ``(1, n)``) is read along the row, or
    down the column when the cell ends with ``*``.
    """
    grid = read_grid(path, owner, ref)
    row, col, down = _cell(path, owner, ref.args[0])
    rows, cols = (shape[1], shape[0]) if down else shape
    out = []
    for i in range(rows):
        out.append(
            [
                _number(path, owner, ref, _at(grid, row + i, col + j), _name(row + i, col + j))
                for j in range(cols)
            ]
        )
    if down:  # read down the column: back to the array's own orientation
        out = [list(r) for r in zip(*out, strict=True)]
    return out


def series(path: str, owner: str, ref: Reference, size: int = 1) -> tuple:
    """Return ``(xs, ys)`` of a LOOKUPS or DATA call: its x (or time) values and its values.

    With ``size`` > 1 (a subscripted variable), ``ys`` holds one series per
    element: the next rows (x values in a row) or columns (in a column).
    """
    grid = read_grid(path, owner, ref)
    across, first = ref.args
    row, col, _ = _cell(path, owner, first)
    if across.strip().isdigit():  # x values in a row, the values in the rows from the cell's
        x_row = int(across) - 1
        cells = [(x_row, c, [(row + k, c) for k in range(size)]) for c in range(col, _width(grid))]
    else:  # x values in a column, the values in the columns from the cell's
        x_col = _cell(path, owner, f"{across.strip()}1")[1]
        cells = [(r, x_col, [(r, col + k) for k in range(size)]) for r in range(row, len(grid))]
    xs, ys = [], []
    for xr, xc, where in cells:
        x = _at(grid, xr, xc)
        if x is None:
            break
        xs.append(_number(path, owner, ref, x, _name(xr, xc)))
        ys.append([_number(path, owner, ref, _at(grid, r, c), _name(r, c)) for r, c in where])
    if not xs:
        raise ModelError(f"{path}: '{owner}' finds no values at {first} of '{ref.file.name}'")
    if any(b <= a for a, b in zip(xs, xs[1:], strict=False)):
        raise ModelError(
            f"{path}: '{owner}' reads x values from '{ref.file.name}' that do not increase"
        )
    return tuple(xs), tuple(tuple(col) for col in zip(*ys, strict=True))


def _width(grid: list) -> int:
    return max((len(r) for r in grid), default=0)


def _name(row: int, col: int) -> str:
    letters = ""
    col += 1
    while col:
        col, rem = divmod(col - 1, 26)
        letters = chr(ord("A") + rem) + letters
    return f"{letters}{row + 1}"
