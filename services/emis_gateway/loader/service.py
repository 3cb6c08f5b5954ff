"""Loading a world directory (``madrasah.jsonl``, ``siswa.jsonl``): every line validated, all or nothing.

Each line must be a JSON object that the contract's ``*Record`` model accepts. Every problem is reported
with its file, line, field and rule; if there is any, the transaction is rolled back and nothing is
written. Rows are inserted with SQLAlchemy core in chunks while the files are read, so memory stays flat.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy import Connection, Engine

from services.emis_gateway.base import storable, utcnow
from services.emis_gateway.kehadiran import service as kehadiran_service
from services.emis_gateway.loader import repository
from services.emis_gateway.madrasah.models import PESANTREN
from shared.contracts.emis import (
    KehadiranSiswaRecord,
    MadrasahRecord,
    PesantrenRecord,
    SantriRecord,
    SiswaKeluarRecord,
    SiswaRecord,
)
from shared.db import SQLITE_IMMEDIATE

MADRASAH_FILE = "madrasah.jsonl"
SISWA_FILE = "siswa.jsonl"
# Optional: pesantren (NSPP) and their santri, loaded when present.
PESANTREN_FILE = "pesantren.jsonl"
SANTRI_FILE = "santri.jsonl"
# Optional: monthly attendance and the students who left (worldgen 2.1), loaded when present.
KEHADIRAN_FILE = "kehadiran_siswa.jsonl"
KELUAR_FILE = "siswa_keluar.jsonl"
MAX_REPORTED = 1000  # errors kept in the report; all are counted

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class LineError:
    file: str
    line: int
    field: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.rule}: {self.message}"


@dataclass(slots=True)
class LoadReport:
    madrasah: int = 0
    siswa: int = 0
    pesantren: int = 0
    santri: int = 0
    kehadiran: int = 0
    keluar: int = 0
    errors: list[LineError] = field(default_factory=list)
    error_count: int = 0

    @property
    def ok(self) -> bool:
        return self.error_count == 0

    def add(self, error: LineError) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_REPORTED:
            self.errors.append(error)


class _Abort(Exception):
    """Raised inside the transaction to roll it back when any line was wrong."""


def read_records(path: Path, model: type[M], report: LoadReport) -> Iterator[tuple[int, M]]:
    """Yield ``(line number, record)`` for every valid line; report every invalid one. Blank lines are skipped."""
    name = path.name
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                text = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                report.add(LineError(name, lineno, "-", "utf8", f"line is not UTF-8: {exc.reason}"))
                continue
            if not text.strip():
                continue
            try:
                obj: Any = json.loads(text)
            except json.JSONDecodeError as exc:
                report.add(LineError(name, lineno, "-", "json_invalid", exc.msg))
                continue
            if not isinstance(obj, dict):
                report.add(LineError(name, lineno, "-", "json_object", "each line must be one JSON object"))
                continue
            try:
                record = model.model_validate(obj)
            except ValidationError as exc:
                for err in exc.errors(include_input=False, include_url=False):
                    loc = ".".join(str(p) for p in err["loc"]) or "-"
                    report.add(LineError(name, lineno, loc, err["type"], err["msg"]))
                continue
            unstorable = [key for key, value in record if isinstance(value, str) and not storable(value)]
            for key in unstorable:
                report.add(LineError(name, lineno, key, "characters", "contains a NUL character or invalid Unicode"))
            if not unstorable:
                yield lineno, record


def _madrasah_row(rec: MadrasahRecord, now: Any) -> dict[str, Any]:
    return {**rec.model_dump(), "jenjang": rec.jenjang.value, "status": rec.status.value,
            "created_at": now, "updated_at": now}


def _pesantren_row(rec: PesantrenRecord, now: Any) -> dict[str, Any]:
    return {"nsm": rec.nspp, "jenis_lembaga": PESANTREN, "npsn": rec.npsn or "", "nama": rec.nama,
            "jenjang": "PP", "status": rec.status.value, "kode_wilayah": rec.kode_wilayah,
            "created_at": now, "updated_at": now}


def _siswa_row(rec: SiswaRecord, now: Any) -> dict[str, Any]:
    row = {**rec.model_dump(), "jenis_kelamin": rec.jenis_kelamin.value, "created_at": now, "updated_at": now}
    if isinstance(rec, SantriRecord):
        row["nsm"] = row.pop("nspp")  # a santri belongs to its pesantren's NSPP
    return row


def load_world(engine: Engine, directory: Path, *, replace: bool = False, chunk: int = 1000) -> LoadReport:
    """Load ``directory`` in one transaction; on any error nothing is written and the report says why."""
    report = LoadReport()
    paths = {name: directory / name for name in (MADRASAH_FILE, SISWA_FILE)}
    for name, path in paths.items():
        if not path.is_file():
            report.add(LineError(name, 0, "-", "missing_file", f"{path} does not exist"))
    if not report.ok:
        return report
    try:
        with engine.connect().execution_options(**{SQLITE_IMMEDIATE: True}) as conn, conn.begin():
            _load(conn, paths[MADRASAH_FILE], paths[SISWA_FILE], replace, chunk, report)
            _load_pesantren(conn, directory / PESANTREN_FILE, directory / SANTRI_FILE, chunk, report)
            _load_kehadiran(conn, directory / KEHADIRAN_FILE, directory / KELUAR_FILE, chunk, report)
            if not report.ok:
                raise _Abort
    except _Abort:
        report.madrasah = report.siswa = report.pesantren = report.santri = report.kehadiran = report.keluar = 0
    return report


def _load(conn: Connection, madrasah_path: Path, siswa_path: Path, replace: bool, chunk: int,
          report: LoadReport) -> None:
    now = utcnow()
    if replace:
        repository.clear(conn)
    stored_nsm = repository.existing_keys(conn, repository.MADRASAH, "nsm")

    madrasah_rows: list[dict[str, Any]] = []
    line_of_nsm: dict[str, int] = {}
    for lineno, rec in read_records(madrasah_path, MadrasahRecord, report):
        if rec.nsm in line_of_nsm:
            report.add(LineError(MADRASAH_FILE, lineno, "nsm", "duplicate",
                                 f"NSM {rec.nsm} also on line {line_of_nsm[rec.nsm]}"))
            continue
        line_of_nsm[rec.nsm] = lineno
        if rec.nsm in stored_nsm:
            report.add(LineError(MADRASAH_FILE, lineno, "nsm", "already_loaded",
                                 f"NSM {rec.nsm} is already stored; load with --replace to start over"))
            continue
        madrasah_rows.append(_madrasah_row(rec, now))
    if report.ok:
        repository.insert_many(conn, repository.MADRASAH, madrasah_rows, chunk)
        report.madrasah = len(madrasah_rows)
    known_nsm = stored_nsm | set(line_of_nsm)

    # One read of the stored ids (not a lookup per chunk: on fresh tables without statistics PostgreSQL
    # plans those lookups as scans of the rows just inserted).
    stored_ids = repository.existing_keys(conn, repository.SISWA, "siswa_id")
    pending: list[tuple[int, dict[str, Any]]] = []
    line_of_id: dict[str, int] = {}

    def flush() -> None:
        if report.ok:
            repository.insert_many(conn, repository.SISWA, [row for _, row in pending], chunk)
            report.siswa += len(pending)
        pending.clear()

    for lineno, rec in read_records(siswa_path, SiswaRecord, report):
        if rec.siswa_id in line_of_id:
            report.add(LineError(SISWA_FILE, lineno, "siswa_id", "duplicate",
                                 f"siswa_id also on line {line_of_id[rec.siswa_id]}"))
            continue
        line_of_id[rec.siswa_id] = lineno
        if rec.siswa_id in stored_ids:
            report.add(LineError(SISWA_FILE, lineno, "siswa_id", "already_loaded",
                                 "siswa_id is already stored; load with --replace to start over"))
            continue
        if rec.nsm not in known_nsm:
            report.add(LineError(SISWA_FILE, lineno, "nsm", "unknown_nsm",
                                 f"no madrasah with NSM {rec.nsm} in {MADRASAH_FILE} or the database"))
            continue
        pending.append((lineno, _siswa_row(rec, now)))
        if len(pending) >= chunk:
            flush()
    if pending:
        flush()


def _load_pesantren(conn: Connection, pesantren_path: Path, santri_path: Path, chunk: int, report: LoadReport) -> None:
    """pesantren.jsonl and santri.jsonl, when present (after madrasah and siswa: the numbers share a table)."""
    now = utcnow()
    if santri_path.is_file() and not pesantren_path.is_file():
        report.add(LineError(PESANTREN_FILE, 0, "-", "missing_file", f"{santri_path.name} needs {pesantren_path}"))
        return
    if not pesantren_path.is_file():
        return
    stored = repository.existing_keys(conn, repository.MADRASAH, "nsm")
    rows: list[dict[str, Any]] = []
    line_of: dict[str, int] = {}
    for lineno, rec in read_records(pesantren_path, PesantrenRecord, report):
        if rec.nspp in line_of:
            report.add(LineError(PESANTREN_FILE, lineno, "nspp", "duplicate", f"NSPP also on line {line_of[rec.nspp]}"))
            continue
        line_of[rec.nspp] = lineno
        if rec.nspp in stored:
            report.add(LineError(PESANTREN_FILE, lineno, "nspp", "already_loaded",
                                 f"{rec.nspp} is already stored (as a madrasah or pesantren)"))
            continue
        rows.append(_pesantren_row(rec, now))
    if report.ok:
        repository.insert_many(conn, repository.MADRASAH, rows, chunk)
        report.pesantren = len(rows)
    if not santri_path.is_file():
        return
    pesantren = set(line_of) | repository.existing_pesantren(conn)
    stored_ids = repository.existing_keys(conn, repository.SISWA, "siswa_id")
    santri: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for lineno, srec in read_records(santri_path, SantriRecord, report):
        if srec.siswa_id in seen or srec.siswa_id in stored_ids:
            report.add(LineError(SANTRI_FILE, lineno, "siswa_id", "duplicate", "siswa_id is already used"))
            continue
        seen[srec.siswa_id] = lineno
        if srec.nspp not in pesantren:
            report.add(LineError(SANTRI_FILE, lineno, "nspp", "unknown_nspp", f"no pesantren with NSPP {srec.nspp}"))
            continue
        santri.append(_siswa_row(srec, now))
    if report.ok:
        repository.insert_many(conn, repository.SISWA, santri, chunk)
        report.santri = len(santri)


def _load_kehadiran(conn: Connection, kehadiran_path: Path, keluar_path: Path, chunk: int, report: LoadReport) -> None:
    """kehadiran_siswa.jsonl and siswa_keluar.jsonl, when present: months of stored students, one line per
    (siswa_id, tahun, bulan), each month within the rules of ``shared.kehadiran``; a student who left gets
    ``status_aktif`` false with the date and the reason."""
    if not kehadiran_path.is_file() and not keluar_path.is_file():
        return
    stored = repository.existing_keys(conn, repository.SISWA, "siswa_id")
    now = utcnow()
    if keluar_path.is_file():
        seen: dict[str, int] = {}
        updates: list[dict[str, Any]] = []
        for lineno, krec in read_records(keluar_path, SiswaKeluarRecord, report):
            if krec.siswa_id in seen:
                report.add(LineError(KELUAR_FILE, lineno, "siswa_id", "duplicate",
                                     f"siswa_id also on line {seen[krec.siswa_id]}"))
                continue
            seen[krec.siswa_id] = lineno
            if krec.siswa_id not in stored:
                report.add(LineError(KELUAR_FILE, lineno, "siswa_id", "unknown_siswa", "no such siswa_id"))
                continue
            updates.append({"b_siswa_id": krec.siswa_id, "tanggal_keluar": krec.tanggal_keluar,
                            "alasan_keluar": krec.alasan_keluar.value, "status_aktif": False, "updated_at": now})
        if report.ok:
            repository.mark_keluar(conn, updates)
            report.keluar = len(updates)
    if not kehadiran_path.is_file():
        return
    rows: list[dict[str, Any]] = []
    line_of: dict[tuple[str, int, int], int] = {}
    for lineno, rec in read_records(kehadiran_path, KehadiranSiswaRecord, report):
        key = (rec.siswa_id, rec.tahun, rec.bulan)
        if key in line_of:
            report.add(LineError(KEHADIRAN_FILE, lineno, "bulan", "duplicate",
                                 f"this student's {rec.tahun}-{rec.bulan:02d} is also on line {line_of[key]}"))
            continue
        line_of[key] = lineno
        if rec.siswa_id not in stored:
            report.add(LineError(KEHADIRAN_FILE, lineno, "siswa_id", "unknown_siswa",
                                 f"no siswa with this siswa_id in {SISWA_FILE} or the database"))
            continue
        bad = kehadiran_service.violations(rec)
        for v in bad:
            report.add(LineError(KEHADIRAN_FILE, lineno, v.field, v.rule, v.message))
        if not bad:
            rows.append({**rec.model_dump(), "updated_at": now})
        if len(rows) >= chunk and report.ok:
            repository.insert_many(conn, repository.KEHADIRAN, rows, chunk)
            report.kehadiran += len(rows)
            rows = []
    if report.ok:
        repository.insert_many(conn, repository.KEHADIRAN, rows, chunk)
        report.kehadiran += len(rows)
