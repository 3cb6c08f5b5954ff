"""Reading and writing spreadsheets (CSV and XLSX) for both gateways, and the one rule for identifier cells.

Pure: no rules of a domain, no database. ``read`` gives the header and the data rows (row number, cells) of a
file; a cell keeps the type the file gave it (CSV: text; XLSX: text, number, date, boolean), so a caller can
tell a NIK typed as text from one Excel turned into a number. Row numbers are the spreadsheet's: the header
is row 1; blank rows are skipped. CSV: UTF-8 (a byte-order mark is fine), separated by ``,`` ``;`` or tab,
whichever the header line uses most (Indonesian Excel writes ``;``). XLSX: the first sheet.

Identifier cells (NIK, KK, NISN, NIPD, card numbers...) go through ``identifier``, the rule both gateways and
the attendance imports share: a number cell is refused (``numeric_cell``): Excel keeps 15 significant digits,
so the 16-digit NIK 3172065511870016 is stored as 3172065511870020, and leading zeros are gone; the text a
CSV gets when Excel saved such a number in scientific notation (``3.17207E+15``) is refused too
(``excel_scientific``). Messages never repeat the cell's value.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime, time
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.utils.exceptions import InvalidFileException

from shared.contracts.common import FileFormat

__all__ = ["MAX_BYTES", "MAX_ROWS", "MEDIA_TYPES", "Cell", "CellError", "FileError", "FileFormat", "Row",
           "format_of", "identifier", "read", "text", "write"]

MAX_BYTES = 20 * 1024 * 1024
MAX_ROWS = 50_000
MEDIA_TYPES = {FileFormat.CSV: "text/csv; charset=utf-8",
               FileFormat.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}

Cell = str | int | float | bool | date | datetime | time | None
Row = tuple[int, list[Cell]]

_SCIENTIFIC = re.compile(r"^[+-]?\d+([.,]\d+)?[eE][+-]?\d+$")
NUMERIC_CELL = ("the cell is a number, which loses leading zeros and every digit past the 15th: format the column "
                "as Text and type the value again")
SCIENTIFIC_CELL = ("the value lost its digits (Excel wrote the number in scientific notation): format the column "
                   "as Text and type the value again")


class FileError(Exception):
    """The file as a whole cannot be read; ``rule`` names why."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule, self.message = rule, message


class CellError(Exception):
    """One cell cannot be read as its column needs; ``rule`` names why (the message never holds the value)."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule, self.message = rule, message


def format_of(content_type: str | None) -> FileFormat | None:
    """The format a Content-Type names (``text/csv``, ``application/csv``, the XLSX media type), else None."""
    kind = (content_type or "").split(";")[0].strip().lower()
    if "spreadsheetml" in kind:
        return FileFormat.XLSX
    if "csv" in kind:
        return FileFormat.CSV
    return None


# -- cells ----------------------------------------------------------------------------------------------

def identifier(cell: Cell) -> str | None:
    """The text of a cell holding an identifier typed as digits (NIK, KK, NISN...), None when empty;
    ``CellError`` ``numeric_cell`` for a number cell, ``excel_scientific`` for a number's scientific text,
    ``string_type`` for a date or a boolean."""
    if cell is None:
        return None
    if isinstance(cell, bool | date | time):
        raise CellError("string_type", "write the identifier as text")
    if isinstance(cell, int | float):
        raise CellError("numeric_cell", NUMERIC_CELL)
    value = cell.strip()
    if _SCIENTIFIC.match(value):
        raise CellError("excel_scientific", SCIENTIFIC_CELL)
    return value or None


def text(cell: Cell) -> str | None:
    """A cell as text, None when empty: a whole number without a spurious ``.0``, a date as ``YYYY-MM-DD``.
    For free text and values a caller parses itself, never for identifiers (``identifier``)."""
    if cell is None:
        return None
    if isinstance(cell, bool):
        return "true" if cell else "false"
    if isinstance(cell, int):
        return str(cell)
    if isinstance(cell, float):
        return str(int(cell)) if cell.is_integer() else repr(cell)
    if isinstance(cell, datetime):
        return cell.date().isoformat()
    if isinstance(cell, date | time):
        return cell.isoformat()
    return cell.strip() or None


# -- reading --------------------------------------------------------------------------------------------

def _blank(cells: Sequence[Cell]) -> bool:
    return all(c is None or (isinstance(c, str) and not c.strip()) for c in cells)


def read(data: bytes, fmt: FileFormat) -> tuple[list[str], list[Row]]:
    """The header (column names) and the data rows (row number, cells) of a file; ``FileError`` otherwise."""
    if len(data) > MAX_BYTES:
        raise FileError("too_large", f"the file is larger than {MAX_BYTES // (1024 * 1024)} MB")
    if not data.strip():
        raise FileError("empty", "the file is empty")
    header: list[str] | None = None
    rows: list[Row] = []
    for number, cells in (_csv(data) if fmt == FileFormat.CSV else _xlsx(data)):
        if _blank(cells):
            continue
        if header is None:
            header = ["" if c is None else str(c).strip() for c in cells]
            continue
        if len(rows) >= MAX_ROWS:
            raise FileError("too_many_rows", f"at most {MAX_ROWS} rows per file")
        rows.append((number, cells))
    if header is None:
        raise FileError("empty", "the file has no header row")
    return header, rows


def _csv(data: bytes) -> Iterator[Row]:
    try:
        content = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileError("not_utf8", f"the file is not UTF-8 (byte {exc.start}); save it as 'CSV UTF-8'") from exc
    if "\x00" in content:
        raise FileError("nul_character", "the file holds NUL characters: it is not a text (CSV) file")
    first = content.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first.count)
    try:
        for number, cells in enumerate(csv.reader(io.StringIO(content, newline=""), delimiter=delimiter), start=1):
            yield number, [c.strip() or None for c in cells]
    except csv.Error as exc:
        raise FileError("csv_invalid", f"the file is not valid CSV: {exc}") from exc


def _xlsx(data: bytes) -> Iterator[Row]:
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, OSError, TypeError) as exc:
        raise FileError("xlsx_invalid", "the file is not an XLSX workbook") from exc
    try:
        if not book.worksheets:
            raise FileError("xlsx_invalid", "the workbook has no sheet")
        for number, values in enumerate(book.worksheets[0].iter_rows(values_only=True), start=1):
            yield number, [_cell(v) for v in values]
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, TypeError) as exc:
        raise FileError("xlsx_invalid", "the workbook's first sheet cannot be read") from exc
    finally:
        book.close()


def _cell(value: Any) -> Cell:
    if isinstance(value, str):
        if "_x" in value:  # a control character as XLSX writes one (``_xlsx_text``)
            value = _ESCAPED.sub(lambda m: chr(int(m.group(1), 16)), value)
        return value.strip() or None
    if value is None or isinstance(value, bool | int | float | date | time):
        return value
    return str(value).strip() or None  # (a timedelta, an error value...): its text


# -- writing --------------------------------------------------------------------------------------------

# The control characters an XLSX cell cannot hold (openpyxl refuses them: an export of a record holding one was a
# 500). They are written as OOXML's escape ``_xHHHH_`` (what Excel writes and shows as the character) and read back
# from it, so an exported file imports back unchanged. (A NUL is never stored: ``shared.db.unstorable_text``.)
_ESCAPED = re.compile(r"_x(00(?:0[0-8BbCcEeFf]|1[0-9A-Fa-f]))_")


def _xlsx_text(value: str) -> str:
    return ILLEGAL_CHARACTERS_RE.sub(lambda m: f"_x{ord(m.group()):04X}_", value)


def xlsx_row(row: Sequence[Any]) -> list[Any]:
    """A row as an XLSX cell can hold it (control characters escaped); for writers that stream their own workbook."""
    return [_xlsx_text(v) if isinstance(v, str) else v for v in row]


def write(fmt: FileFormat, header: Sequence[str], rows: Iterable[Sequence[Any]], sheet: str) -> bytes:
    """A file of ``header`` and ``rows``. Identifiers must be given as strings: XLSX keeps them as text."""
    if fmt == FileFormat.CSV:
        out = io.StringIO(newline="")
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(header)
        writer.writerows(["" if v is None else v for v in row] for row in rows)
        return ("\ufeff" + out.getvalue()).encode("utf-8")  # the BOM makes Excel read it as UTF-8
    book = Workbook(write_only=True)
    ws = book.create_sheet(sheet)
    ws.append(list(header))
    for row in rows:
        ws.append(xlsx_row(row))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
