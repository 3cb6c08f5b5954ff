"""Reading and writing spreadsheets (CSV and XLSX) as rows of text: no rules, no database.

CSV: UTF-8 (a byte-order mark is fine), separated by ``,`` ``;`` or tab (whichever the header line uses:
Indonesian Excel writes ``;``). XLSX: the first sheet; numbers come back without a spurious ``.0``, dates
as ``YYYY-MM-DD``. Row numbers are the spreadsheet's: the header is row 1.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.utils.exceptions import InvalidFileException

from shared.contracts.emis import FileFormat

MAX_BYTES = 20 * 1024 * 1024
MAX_ROWS = 50_000
MEDIA_TYPES = {FileFormat.CSV: "text/csv; charset=utf-8",
               FileFormat.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}

Cell = str | None
Row = tuple[int, list[Cell]]


class FileError(Exception):
    """The file as a whole cannot be read (``rule`` names why)."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule, self.message = rule, message


def read_table(data: bytes, fmt: FileFormat) -> tuple[list[str], list[Row]]:
    """The header cells and the data rows (row number, cells) of a file."""
    if len(data) > MAX_BYTES:
        raise FileError("too_large", f"the file is larger than {MAX_BYTES // (1024 * 1024)} MB")
    if not data.strip():
        raise FileError("empty", "the file is empty")
    rows = _read_csv(data) if fmt is FileFormat.CSV else _read_xlsx(data)
    header: list[str] | None = None
    out: list[Row] = []
    for number, cells in rows:
        if header is None:
            header = [c or "" for c in cells]
            continue
        if len(out) >= MAX_ROWS:
            raise FileError("too_many_rows", f"at most {MAX_ROWS} rows per file")
        out.append((number, cells))
    if header is None:
        raise FileError("empty", "the file has no header row")
    return header, out


def _read_csv(data: bytes) -> Iterable[Row]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileError("utf8", f"the file is not UTF-8 (byte {exc.start}); save it as 'CSV UTF-8'") from exc
    if "\x00" in text:
        raise FileError("nul_character", "the file holds NUL characters: it is not a text (CSV) file")
    first = text.split("\n", 1)[0]
    delimiter = max((";", ",", "\t"), key=first.count)
    try:
        for number, cells in enumerate(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), start=1):
            yield number, [c.strip() or None for c in cells]
    except csv.Error as exc:
        raise FileError("csv_invalid", f"the file is not valid CSV: {exc}") from exc


def _text(value: Any) -> Cell:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value).strip() or None


def _read_xlsx(data: bytes) -> Iterable[Row]:
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, OSError) as exc:
        raise FileError("xlsx_invalid", "the file is not an XLSX workbook") from exc
    try:
        sheet = book.worksheets[0]
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield number, [_text(v) for v in values]
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise FileError("xlsx_invalid", "the workbook's first sheet cannot be read") from exc
    finally:
        book.close()


def write(fmt: FileFormat, header: Sequence[str], rows: Iterable[Sequence[Any]], sheet: str = "Siswa") -> bytes:
    return _write_csv(header, rows) if fmt is FileFormat.CSV else _write_xlsx(header, rows, sheet)


def _write_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")  # the BOM makes Excel read UTF-8


def _write_xlsx(header: Sequence[str], rows: Iterable[Sequence[Any]], sheet: str) -> bytes:
    book = Workbook(write_only=True)
    ws = book.create_sheet(sheet)
    ws.append(list(header))
    for row in rows:
        ws.append(list(row))  # identifiers are written as text: Excel must not turn a NIK into 3.2E+15
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
