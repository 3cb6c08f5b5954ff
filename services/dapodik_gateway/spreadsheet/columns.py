"""The columns of Dapodik's student export ("Unduh Data Peserta Didik"), mapped to ``peserta_didik`` fields,
and how a cell becomes a field value (pure).

Labels are Dapodik's own; the table's field names (``nama_ibu_kandung``...) are accepted as well. A file
may hold any subset of the columns: a row updates only the fields its file has. ``ID Peserta Didik``
identifies an existing student (else ``NIPD`` within the school does; else the row is a new student).
Read-only columns of the export (the hub's outcome, validation) are accepted and ignored on import.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time
from enum import StrEnum
from typing import Any

from shared.spreadsheet import Cell, CellError, identifier


class Kind(StrEnum):
    TEXT = "text"  # free text
    CODE = "code"  # an identifier typed as digits (NIK, KK, NISN...): text only (shared.spreadsheet.identifier)
    BOOL = "bool"  # Ya / Tidak
    DATE = "date"
    INT = "int"
    UUID = "uuid"


@dataclass(frozen=True, slots=True)
class Column:
    label: str
    field: str
    kind: Kind
    read_only: bool = False


COLUMNS: tuple[Column, ...] = (
    Column("ID Peserta Didik", "peserta_didik_id", Kind.UUID),
    Column("Nama", "nama", Kind.TEXT),
    Column("NIPD", "nipd", Kind.CODE),
    Column("JK", "jenis_kelamin", Kind.TEXT),
    Column("NISN", "nisn", Kind.CODE),
    Column("Tempat Lahir", "tempat_lahir", Kind.TEXT),
    Column("Tanggal Lahir", "tanggal_lahir", Kind.DATE),
    Column("NIK", "nik", Kind.CODE),
    Column("No KK", "no_kk", Kind.CODE),
    Column("Tingkat Pendidikan", "tingkat_pendidikan_id", Kind.INT),
    Column("Nama Ayah", "nama_ayah", Kind.TEXT),
    Column("NIK Ayah", "nik_ayah", Kind.CODE),
    Column("Nama Ibu", "nama_ibu_kandung", Kind.TEXT),
    Column("NIK Ibu", "nik_ibu", Kind.CODE),
    Column("Nama Wali", "nama_wali", Kind.TEXT),
    Column("NIK Wali", "nik_wali", Kind.CODE),
    Column("Penerima KPS", "penerima_kps", Kind.BOOL),
    Column("No. KPS", "no_kps", Kind.CODE),
    Column("Penerima KIP", "penerima_kip", Kind.BOOL),
    Column("Nomor KIP", "no_kip", Kind.CODE),
    Column("Nama di KIP", "nm_kip", Kind.TEXT),
    Column("Nomor KKS", "no_kks", Kind.CODE),
    Column("Layak PIP (usulan dari sekolah)", "layak_pip", Kind.BOOL),
    Column("Status Padan", "status_padan", Kind.TEXT, read_only=True),
    Column("Keterangan Padan", "keterangan_padan", Kind.TEXT, read_only=True),
    Column("Status Validasi", "status_validasi", Kind.INT, read_only=True),
)
BY_NAME: dict[str, Column] = {}
for _c in COLUMNS:
    BY_NAME[_c.label.casefold()] = _c
    BY_NAME[_c.field.casefold()] = _c
EXPORT_HEADER = [c.label for c in COLUMNS]
# Fields a row must give for a new student (the rest have defaults).
REQUIRED_FOR_NEW = ("nama", "jenis_kelamin", "tanggal_lahir", "tingkat_pendidikan_id")

_YA = {"ya", "y", "1", "true"}
_TIDAK = {"tidak", "t", "0", "false", "no", "n"}
_DMY = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")


def column(name: str) -> Column | None:
    return BY_NAME.get(" ".join(name.split()).casefold())


def parse(col: Column, cell: Cell) -> Any:
    """The field value of a cell (None for an empty cell), or CellError naming the rule it breaks."""
    if cell is None:
        return None
    if col.kind is Kind.BOOL:
        if isinstance(cell, bool):
            return cell
        text = str(cell).strip().casefold()
        if text in _YA:
            return True
        if text in _TIDAK:
            return False
        raise CellError("bool_parsing", "write Ya or Tidak")
    if col.kind is Kind.DATE:
        if isinstance(cell, datetime):
            return cell.date()
        if isinstance(cell, date):
            return cell
        text = str(cell).strip()
        try:
            if m := _DMY.match(text):
                return date(int(m[3]), int(m[2]), int(m[1]))
            return date.fromisoformat(text)
        except ValueError as exc:
            raise CellError("date_parsing", "write the date as YYYY-MM-DD or DD/MM/YYYY") from exc
    if col.kind is Kind.INT:
        if isinstance(cell, bool) or not isinstance(cell, int | float | str):
            raise CellError("int_parsing", "write a whole number")
        if isinstance(cell, float):
            if not cell.is_integer():
                raise CellError("int_parsing", "write a whole number")
            return int(cell)
        try:
            return int(str(cell).strip())
        except ValueError as exc:
            raise CellError("int_parsing", "write a whole number") from exc
    if col.kind is Kind.CODE:
        return identifier(cell)  # the one rule of both gateways: a number cell (or its 3.2E+15 text) is refused
    if isinstance(cell, int | float) and not isinstance(cell, bool):
        return str(int(cell)) if isinstance(cell, float) and cell.is_integer() else str(cell)
    if isinstance(cell, date | datetime | time | bool):
        raise CellError("string_type", "write text")
    text = str(cell).strip()
    return text or None


def render(col: Column, value: Any) -> Any:
    """A field value as the export writes it."""
    if value is None:
        return None
    if col.kind is Kind.BOOL:
        return "Ya" if value else "Tidak"
    if col.kind is Kind.DATE:
        return value.isoformat()
    return value
