"""Reading and writing CSV and XLSX tables (pure: no rules, no database).

CSV: UTF-8 (a byte-order mark is fine), separated by ``,``, ``;`` or a tab, whichever the header line uses
(Indonesian Excel saves with ``;``). XLSX: the first sheet; cell values keep their type (a number stays a
number, so a NIK Excel turned into a number can be refused instead of silently losing digits). Rows are
numbered as the spreadsheet shows them: the header is row 1; blank rows are skipped.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.utils.exceptions import InvalidFileException

MAX_BYTES = 20 * 1024 * 1024
MAX_ROWS = 50_000

Cell = str | int | float | bool | date | datetime | None


class FileFormat(StrEnum):
    CSV = "csv"
    XLSX = "xlsx"


MEDIA_TYPES = {FileFormat.CSV: "text/csv; charset=utf-8",
               FileFormat.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


class FileError(Exception):
    """The file as a whole cannot be read; ``rule`` names why."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule, self.message = rule, message


def format_of(content_type: str | None) -> FileFormat | None:
    text = (content_type or "").lower()
    if "spreadsheetml" in text:
        return FileFormat.XLSX
    if "csv" in text:
        return FileFormat.CSV
    return None


def read(data: bytes, fmt: FileFormat) -> tuple[list[str], list[tuple[int, list[Cell]]]]:
    """The header (column names) and the data rows (row number, cells)."""
    if len(data) > MAX_BYTES:
        raise FileError("too_large", f"the file is larger than {MAX_BYTES // (1024 * 1024)} MB")
    if not data.strip():
        raise FileError("empty", "the file is empty")
    header: list[str] | None = None
    rows: list[tuple[int, list[Cell]]] = []
    for number, cells in (_csv(data) if fmt is FileFormat.CSV else _xlsx(data)):
        if all(c is None or (isinstance(c, str) and not c.strip()) for c in cells):
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


def _csv(data: bytes) -> Iterator[tuple[int, list[Cell]]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileError("not_utf8", f"the file is not UTF-8 (byte {exc.start}); save it as 'CSV UTF-8'") from exc
    if "\x00" in text:
        raise FileError("nul_character", "the file holds NUL characters: not a CSV file")
    first = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first.count)
    try:
        for number, cells in enumerate(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), start=1):
            yield number, [c if c.strip() else None for c in cells]
    except csv.Error as exc:
        raise FileError("csv_invalid", f"the file is not valid CSV: {exc}") from exc


def _xlsx(data: bytes) -> Iterator[tuple[int, list[Cell]]]:
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, OSError, TypeError) as exc:
        raise FileError("xlsx_invalid", "the file is not an XLSX workbook") from exc
    try:
        if not book.worksheets:
            raise FileError("xlsx_invalid", "the workbook has no sheet")
        for number, values in enumerate(book.worksheets[0].iter_rows(values_only=True), start=1):
            yield number, [v if not isinstance(v, str) or v.strip() else None for v in values]
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, TypeError) as exc:
        raise FileError("xlsx_invalid", "the workbook's first sheet cannot be read") from exc
    finally:
        book.close()


def write(fmt: FileFormat, header: Sequence[str], rows: Iterable[Sequence[Any]], sheet: str) -> bytes:
    if fmt is FileFormat.CSV:
        out = io.StringIO(newline="")
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(header)
        writer.writerows(["" if v is None else v for v in row] for row in rows)
        return ("\ufeff" + out.getvalue()).encode("utf-8")  # the BOM makes Excel read it as UTF-8
    book = Workbook(write_only=True)
    ws = book.create_sheet(sheet)
    ws.append(list(header))
    for row in rows:
        ws.append(list(row))  # identifiers are strings: Excel keeps them as text, digits intact
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
