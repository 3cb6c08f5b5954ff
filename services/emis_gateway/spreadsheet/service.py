"""Rules of import and export of a madrasah's students as CSV or XLSX, with EMIS's column names.

Import: every row is read and checked first (the ``SiswaRecord`` contract, plus what spreadsheets do to
data: an identifier cell Excel made a number, or its ``3.2E+15`` text, is refused (``numeric_cell``,
``excel_scientific``: ``shared.spreadsheet.identifier``, the rule Dapodik's import shares), dates as
``dd/mm/yyyy``, ``Laki-laki``, ``Aktif``); a file with any bad row imports nothing and the answer names each
bad row, column and rule. A row names its student by ``ID Siswa``; without one, by NISN within the madrasah;
otherwise it is a new student. The server's PKH columns of an export are read-only: they are ignored on import
(a file never writes server data).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from pydantic import ValidationError
from sqlmodel import Session

from services.emis_gateway.base import utcnow
from services.emis_gateway.madrasah import repository as madrasah_repository
from services.emis_gateway.siswa.models import RECORD_COLUMNS, SiswaRow
from services.emis_gateway.siswa.service import SUMBER_SERVER
from services.emis_gateway.spreadsheet import repository
from shared import spreadsheet as sheets
from shared.contracts.emis import PKH_COLUMNS, SISWA_COLUMNS, ImportReport, SiswaRecord
from shared.db import unstorable_text
from shared.errors import FieldError, InvalidInput, NotFound
from shared.spreadsheet import FileFormat

MAX_REPORTED = 1000
MEDIA_TYPES = sheets.MEDIA_TYPES
REQUIRED = ("nama", "jenis_kelamin", "tanggal_lahir", "tingkat")
COLUMN_OF = dict((f, h) for h, f in SISWA_COLUMNS)
# Identifiers typed as digits: a number cell or Excel's scientific text is refused (shared.spreadsheet.identifier).
ID_FIELDS = ("nsm", "nisn", "nik", "no_kk", "nik_ayah", "nik_ibu", "nik_wali")
TEXT_DEFAULTS = ("tempat_lahir", "rombel", "nama_ayah", "nama_ibu_kandung", "nama_wali")
_SEX = {"l": "L", "lk": "L", "laki-laki": "L", "laki laki": "L", "p": "P", "pr": "P", "perempuan": "P"}
_ACTIVE = {"aktif": True, "ya": True, "y": True, "true": True, "1": True,
           "tidak aktif": False, "nonaktif": False, "non aktif": False, "tidak": False, "t": False, "false": False,
           "0": False, "keluar": False, "lulus": False, "mutasi": False}
_DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y")


def _norm(header: str) -> str:
    return " ".join(header.split()).casefold()


_IMPORTED = {_norm(h): f for h, f in SISWA_COLUMNS}
_IGNORED = {_norm(h) for h in PKH_COLUMNS}


class _Report:
    def __init__(self) -> None:
        self.errors: list[FieldError] = []
        self.count = 0

    def add(self, row: int, column: str, rule: str, message: str) -> None:
        self.count += 1
        if len(self.errors) < MAX_REPORTED:
            self.errors.append(FieldError(field=f"rows[{row}].{column}", rule=rule, message=message))


def _madrasah(session: Session, nsm: str, *, lock: bool = False) -> None:
    if madrasah_repository.get(session, nsm, lock=lock) is None:
        raise NotFound.field("nsm", "not_found", "no madrasah or pesantren with this number")


# -- import -------------------------------------------------------------------------------------------

def import_siswa(session: Session, nsm: str, data: bytes, fmt: FileFormat, *, dry_run: bool = False) -> ImportReport:
    """Imports of one madrasah take turns (its row locked first): a file sent twice at once creates its new students
    once, the second finding them by their NISN. The students the file names are locked in id order."""
    _madrasah(session, nsm, lock=not dry_run)
    try:
        header, rows = sheets.read(data, fmt)
    except sheets.FileError as exc:
        raise InvalidInput.field("file", exc.rule, exc.message) from exc
    report = _Report()
    fields = _columns(header, report)
    records: list[tuple[int, dict[str, Any]]] = []
    if report.count == 0:
        for number, cells in rows:
            record = _row(number, cells, fields, nsm, report)
            if record is not None:
                records.append((number, record))
    plan = _match(session, nsm, records, report, lock=not dry_run)
    if report.count:
        raise InvalidInput(f"{report.count} problem(s) in the file; nothing was imported", report.errors)
    now = utcnow()
    created = [{**rec, "created_at": now, "updated_at": now} for sid, rec, old in plan if old is None]
    changed = [{"b_siswa_id": sid, **{k: v for k, v in rec.items() if k != "siswa_id"}, "updated_at": now}
               for sid, rec, old in plan if old is not None and old != rec]
    if not dry_run:
        repository.insert(session, created)
        repository.update(session, changed)
    return ImportReport(rows=len(records), created=len(created), updated=len(changed),
                        unchanged=len(plan) - len(created) - len(changed), dry_run=dry_run)


def _columns(header: list[str], report: _Report) -> list[str | None]:
    """The field of each column (None: a read-only export column, ignored); problems go to ``report``."""
    out: list[str | None] = []
    seen: set[str] = set()
    for title in header:
        key = _norm(title)
        if key in _IGNORED or (not key and not title):
            out.append(None)
            continue
        name = _IMPORTED.get(key)
        if name is None:
            report.add(1, title, "unknown_column", f"unknown column {title!r}; the columns are: "
                       + ", ".join(h for h, _ in SISWA_COLUMNS))
            out.append(None)
        elif name in seen:
            report.add(1, title, "duplicate_column", f"column {title!r} appears twice")
            out.append(None)
        else:
            seen.add(name)
            out.append(name)
    for name in REQUIRED:
        if name not in seen:
            report.add(1, COLUMN_OF[name], "missing_column", f"the column {COLUMN_OF[name]!r} is required")
    return out


def _row(number: int, cells: list[sheets.Cell], fields: list[str | None], nsm: str,
         report: _Report) -> dict[str, Any] | None:
    """One row as a checked record (``siswa_id`` possibly None), or None when it is bad (reported)."""
    raw: dict[str, Any] = {}
    before = report.count
    for i, name in enumerate(fields):
        if name is None:
            continue
        cell = cells[i] if i < len(cells) else None
        try:
            raw[name] = sheets.identifier(cell) if name in ID_FIELDS else sheets.text(cell)
        except sheets.CellError as exc:
            report.add(number, COLUMN_OF[name], exc.rule, exc.message)
    extra = [c for c in cells[len(fields):] if c is not None]
    if extra:
        report.add(number, f"column {len(fields) + 1}", "unexpected_cell", "a value outside the header's columns")
    for name, value in raw.items():
        if isinstance(value, str) and (rule := unstorable_text(value)) is not None:
            report.add(number, COLUMN_OF[name], rule, "contains a NUL character or invalid Unicode")
    if report.count > before:
        return None
    if (given := raw.get("nsm")) is not None and given != nsm:
        report.add(number, COLUMN_OF["nsm"], "other_madrasah", f"the row belongs to another NSM than {nsm}")
    raw["nsm"] = nsm
    sex = raw.get("jenis_kelamin")
    if sex is not None:
        raw["jenis_kelamin"] = _SEX.get(sex.casefold(), sex)
    active = raw.get("status_aktif")
    raw["status_aktif"] = True  # (also the stand-in while a bad value is reported)
    if active is not None and active.casefold() in _ACTIVE:
        raw["status_aktif"] = _ACTIVE[active.casefold()]
    elif active is not None:
        report.add(number, COLUMN_OF["status_aktif"], "status_siswa", "use Aktif or Tidak Aktif")
    born = raw.get("tanggal_lahir")
    if born is not None:
        parsed = _date(born)
        if parsed is None:
            report.add(number, COLUMN_OF["tanggal_lahir"], "date_format", "use YYYY-MM-DD or DD/MM/YYYY")
        raw["tanggal_lahir"] = parsed or date(2000, 1, 1)  # a stand-in, so the other columns are still checked
    for name in TEXT_DEFAULTS:
        if raw.get(name) is None:
            raw[name] = ""
    for name in REQUIRED:
        if raw.get(name) is None:
            raw.pop(name, None)  # an empty required cell is "missing"
    sid = raw.pop("siswa_id", None)
    try:
        record = SiswaRecord.model_validate({**raw, "siswa_id": sid or "-"})
    except ValidationError as exc:
        for err in exc.errors(include_input=False, include_url=False):
            name = str(err["loc"][0]) if err["loc"] else "-"
            report.add(number, COLUMN_OF.get(name, name), err["type"], err["msg"])
        return None
    if report.count > before:
        return None
    values = record.model_dump(mode="python")
    values["jenis_kelamin"] = record.jenis_kelamin.value
    values["siswa_id"] = sid
    return values


def _date(text: str) -> date | None:
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def _match(session: Session, nsm: str, records: list[tuple[int, dict[str, Any]]], report: _Report,
           *, lock: bool) -> list[tuple[str, dict[str, Any], dict[str, Any] | None]]:
    """(siswa_id, record, stored record or None) per row; rows naming a student twice, or a student of
    another madrasah, are reported."""
    by_nisn = repository.ids_by_nisn(session, nsm)
    named: list[tuple[int, str | None, dict[str, Any]]] = []
    for number, rec in records:
        sid = rec["siswa_id"]
        if sid is None and rec["nisn"] is not None:
            holders = by_nisn.get(rec["nisn"], [])
            if len(holders) > 1:
                report.add(number, COLUMN_OF["nisn"], "nisn_ambiguous", "several students of this madrasah hold "
                           "this NISN; give the row its ID Siswa")
                continue
            sid = holders[0] if holders else None
        named.append((number, sid, rec))
    stored = repository.records_by_id(session, [sid for _, sid, _ in named if sid is not None], lock=lock)
    plan: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = []
    first_row: dict[str, int] = {}
    for number, known, rec in named:
        sid = known or str(uuid.uuid4())
        old = stored.get(sid)
        if old is not None and old["nsm"] != nsm:
            report.add(number, COLUMN_OF["siswa_id"], "other_madrasah", "this student belongs to another madrasah")
            continue
        if sid in first_row:
            report.add(number, COLUMN_OF["siswa_id"], "duplicate_row",
                       f"the same student as row {first_row[sid]}")
            continue
        first_row[sid] = number
        plan.append((sid, {**rec, "siswa_id": sid}, old))
    return plan


# -- export -------------------------------------------------------------------------------------------

def export_siswa(session: Session, nsm: str, fmt: FileFormat) -> tuple[bytes, str, str]:
    """The madrasah's students as a file: (content, media type, file name)."""
    _madrasah(session, nsm)
    header = [h for h, _ in SISWA_COLUMNS] + list(PKH_COLUMNS)
    rows = [_export_row(r) for r in repository.students_of(session, nsm)]
    return sheets.write(fmt, header, rows, sheet="Siswa"), MEDIA_TYPES[fmt], f"siswa_{nsm}.{fmt.value}"


def _yes_no(value: bool | None) -> str | None:
    return None if value is None else ("Ya" if value else "Tidak")


def _export_row(row: SiswaRow) -> list[Any]:
    record = [getattr(row, name) for _, name in SISWA_COLUMNS]
    record[[n for _, n in SISWA_COLUMNS].index("status_aktif")] = "Aktif" if row.status_aktif else "Tidak Aktif"
    record[[n for _, n in SISWA_COLUMNS].index("tanggal_lahir")] = row.tanggal_lahir.isoformat()
    server = [row.status_pkh, row.keterangan_pkh, _yes_no(row.penerima_pkh), row.periode_pkh, row.no_kks,
              SUMBER_SERVER if row.last_sync is not None else None,
              row.last_sync.isoformat(timespec="seconds") if row.last_sync else None]
    manual = [_yes_no(row.manual_penerima_pkh), row.manual_periode_pkh, row.manual_no_kks, row.manual_keterangan]
    return record + server + manual


assert set(RECORD_COLUMNS) == {name for _, name in SISWA_COLUMNS}
