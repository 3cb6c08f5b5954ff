"""Loading a world directory (``sekolah.jsonl``, ``peserta_didik.jsonl``): every line validated with the
contract's ``*Record`` model, all-or-nothing in one transaction, a per-line error report otherwise.

Rows go out in chunks while the load is clean: on PostgreSQL by ``COPY``, on SQLite by one prepared
``executemany``; each chunk of students is validated (``vld_peserta_didik``) and given its programme rows
(``kesejahteraan_pd``) as it is written, the NIK checks of the whole chunk computed together.

Optional, when present (worldgen 2.1): ``kehadiran_pd.jsonl`` (monthly attendance, each month within the rules
of ``shared.kehadiran``) and ``registrasi_keluar.jsonl`` (students who left: ``jenis_keluar_id`` and
``tanggal_keluar`` set on the record, which stays active and in the hub's feed). A student stored before the
load whose attendance or leaving is loaded moves in the hub's feed.

The line checks are independent of the file format, so a later CSV/XLSX import can reuse them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy import Connection, Engine

from services.dapodik_gateway.db import unstorable_text
from services.dapodik_gateway.kehadiran import service as kehadiran_service
from services.dapodik_gateway.kesejahteraan import rules as kesejahteraan_rules
from services.dapodik_gateway.kesejahteraan import service as kesejahteraan_service
from services.dapodik_gateway.loader import repository
from services.dapodik_gateway.peserta_didik import repository as pd_repository
from services.dapodik_gateway.sinkronisasi import service as sync_service
from services.dapodik_gateway.validasi import service as validasi_service
from shared.bulk import load_page_cache
from shared.contracts.dapodik import KehadiranPdRecord, PesertaDidikRecord, RegistrasiKeluarRecord, SekolahRecord

SEKOLAH_FILE = "sekolah.jsonl"
PESERTA_DIDIK_FILE = "peserta_didik.jsonl"
# Optional: monthly attendance and the students who left, loaded when present.
KEHADIRAN_FILE = "kehadiran_pd.jsonl"
KELUAR_FILE = "registrasi_keluar.jsonl"
CHUNK = 5000

R = TypeVar("R", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class LineError:
    file: str
    line: int  # 1-based; 0 when the error is about the whole file
    field: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.rule}: {self.message}"


@dataclass
class LoadReport:
    sekolah: int = 0
    peserta_didik: int = 0
    kehadiran: int = 0  # months of attendance
    keluar: int = 0  # students who left
    errors: list[LineError] = field(default_factory=list)
    error_count: int = 0  # all errors found; ``errors`` keeps the first ``max_errors``

    @property
    def ok(self) -> bool:
        return self.error_count == 0


class _Rollback(Exception):
    """Raised inside the load transaction to undo it when any line was wrong."""


class _Collector:
    def __init__(self, report: LoadReport, max_errors: int) -> None:
        self.report, self.max_errors = report, max_errors

    def add(self, error: LineError) -> None:
        self.report.error_count += 1
        if len(self.report.errors) < self.max_errors:
            self.report.errors.append(error)


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    with path.open("rb") as f:
        for number, raw in enumerate(f, 1):
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            raw = raw.strip()
            if raw:
                yield number, raw


def _validated(path: Path, model: type[R], errors: _Collector) -> Iterator[tuple[int, R]]:
    for number, raw in _lines(path):
        try:
            rec = model.model_validate_json(raw)
        except ValidationError as exc:
            for e in exc.errors(include_url=False, include_input=False):
                where = ".".join(str(p) for p in e["loc"]) or "-"
                errors.add(LineError(path.name, number, where, e["type"], e["msg"]))
            continue
        # NUL and lone surrogates reach a string only through a \\u escape (a raw NUL is looked for too):
        # a line without either holds only storable text.
        bad = [] if b"\\u" not in raw and b"\x00" not in raw else [
            (name, rule) for name, value in rec if isinstance(value, str) and (rule := unstorable_text(value))]
        for name, rule in bad:
            errors.add(LineError(path.name, number, name, rule, "text neither database can store"))
        if not bad:
            yield number, rec


def _sekolah_row(rec: SekolahRecord, now: datetime) -> dict[str, Any]:
    return {**rec.model_dump(), "bentuk_pendidikan": rec.bentuk_pendidikan.value,
            "status_sekolah": rec.status_sekolah.value, "create_date": now, "last_update": now, "soft_delete": False}


def _peserta_didik_row(rec: PesertaDidikRecord, now: datetime, seq: int) -> dict[str, Any]:
    return {**rec.model_dump(), "jenis_kelamin": rec.jenis_kelamin.value, "status_padan": None,
            "keterangan_padan": None, "create_date": now, "last_update": now, "last_sync": None,
            "soft_delete": False, "change_seq": seq}


class _Chunked:
    """Rows waiting to be written; flushed in chunks while the load is still clean."""

    def __init__(self, conn: Connection, write: Callable[[Connection, list[dict[str, Any]]], None],
                 errors: _Collector) -> None:
        self.conn, self.write, self.errors = conn, write, errors
        self.rows: list[dict[str, Any]] = []

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        if len(self.rows) >= CHUNK:
            self.flush()

    def flush(self) -> None:
        if self.rows and self.errors.report.ok:
            self.write(self.conn, self.rows)
        self.rows = []


def _load_sekolah(conn: Connection, path: Path, now: datetime, errors: _Collector, replace: bool
                  ) -> tuple[int, set[str]]:
    ids: dict[str, int] = {}
    npsns: dict[str, int] = {}
    taken_ids, taken_npsn = (set(), set()) if replace else repository.existing_sekolah_keys(conn)
    out = _Chunked(conn, repository.insert_sekolah, errors)
    for number, rec in _validated(path, SekolahRecord, errors):
        if rec.sekolah_id in ids:
            errors.add(LineError(path.name, number, "sekolah_id", "duplicate",
                                 f"sekolah_id already on line {ids[rec.sekolah_id]}"))
        elif rec.sekolah_id in taken_ids:
            errors.add(LineError(path.name, number, "sekolah_id", "exists",
                                 "sekolah_id already loaded; use --replace to load a new world"))
        elif rec.npsn in npsns:
            errors.add(LineError(path.name, number, "npsn", "duplicate", f"npsn already on line {npsns[rec.npsn]}"))
        elif rec.npsn in taken_npsn:
            errors.add(LineError(path.name, number, "npsn", "exists", "npsn already loaded"))
        else:
            ids[rec.sekolah_id] = number
            npsns[rec.npsn] = number
            out.add(_sekolah_row(rec, now))
    out.flush()
    return len(ids), set(ids) | taken_ids


def _write_peserta_didik(conn: Connection, rows: list[dict[str, Any]], now: datetime) -> None:
    """A chunk of new students, validated together (their worst class set on the rows, the findings in
    ``vld_peserta_didik``), with the programme rows (``kesejahteraan_pd``) their fields call for."""
    status, findings = validasi_service.findings(rows, now)
    for row in rows:
        row["status_validasi"] = status[row["peserta_didik_id"]].value
    repository.insert_peserta_didik(conn, rows)
    repository.insert_findings(conn, findings)
    kesejahteraan_service.reconcile(conn, {r["peserta_didik_id"]: r for r in rows if kesejahteraan_rules.derive(r)},
                                    None, now)


def _load_peserta_didik(conn: Connection, path: Path, now: datetime, errors: _Collector, replace: bool,
                        sekolah_ids: set[str], seq: int) -> set[str]:
    seen: dict[str, int] = {}
    out = _Chunked(conn, lambda c, rows: _write_peserta_didik(c, rows, now), errors)
    pending: list[tuple[int, PesertaDidikRecord]] = []

    def check_existing() -> None:
        taken = set() if replace else repository.existing_peserta_didik_ids(conn, [r.peserta_didik_id
                                                                                   for _, r in pending])
        for number, rec in pending:
            if rec.peserta_didik_id in taken:
                errors.add(LineError(path.name, number, "peserta_didik_id", "exists",
                                     "peserta_didik_id already loaded; use --replace to load a new world"))
            else:
                out.add(_peserta_didik_row(rec, now, seq))
        pending.clear()

    for number, rec in _validated(path, PesertaDidikRecord, errors):
        if rec.peserta_didik_id in seen:
            errors.add(LineError(path.name, number, "peserta_didik_id", "duplicate",
                                 f"peserta_didik_id already on line {seen[rec.peserta_didik_id]}"))
            continue
        seen[rec.peserta_didik_id] = number
        if rec.sekolah_id not in sekolah_ids:
            errors.add(LineError(path.name, number, "sekolah_id", "unknown_sekolah",
                                 f"no sekolah with this sekolah_id in {SEKOLAH_FILE} or the database"))
            continue
        pending.append((number, rec))
        if len(pending) >= CHUNK:
            check_existing()
    check_existing()
    out.flush()
    return set(seen)


def _stored(conn: Connection, ids: set[str], loaded: set[str]) -> set[str]:
    """The ids among ``ids`` of students loaded now or already in the database."""
    others = sorted(ids - loaded)
    found = ids & loaded
    for start in range(0, len(others), CHUNK):
        found |= repository.existing_peserta_didik_ids(conn, others[start:start + CHUNK])
    return found


def _load_keluar(conn: Connection, path: Path, errors: _Collector, loaded: set[str]) -> dict[str, date]:
    """registrasi_keluar.jsonl: one line per student who left; returns each one's ``tanggal_keluar``."""
    if not path.is_file():
        return {}
    seen: dict[str, int] = {}
    lines: list[tuple[int, RegistrasiKeluarRecord]] = []
    for number, rec in _validated(path, RegistrasiKeluarRecord, errors):
        if rec.peserta_didik_id in seen:
            errors.add(LineError(path.name, number, "peserta_didik_id", "duplicate",
                                 f"peserta_didik_id already on line {seen[rec.peserta_didik_id]}"))
            continue
        seen[rec.peserta_didik_id] = number
        lines.append((number, rec))
    stored = _stored(conn, set(seen), loaded)
    updates: list[dict[str, Any]] = []
    for number, rec in lines:
        if rec.peserta_didik_id not in stored:
            errors.add(LineError(path.name, number, "peserta_didik_id", "unknown_peserta_didik",
                                 f"no peserta_didik with this peserta_didik_id in {PESERTA_DIDIK_FILE} or the "
                                 "database"))
        else:
            updates.append({"b_id": rec.peserta_didik_id, "b_jenis": rec.jenis_keluar_id.value,
                            "b_tanggal": rec.tanggal_keluar})
    if errors.report.ok:
        repository.mark_keluar(conn, updates)
    return {u["b_id"]: u["b_tanggal"] for u in updates}


def _load_kehadiran(conn: Connection, path: Path, now: datetime, errors: _Collector, loaded: set[str],
                    keluar: dict[str, date]) -> tuple[int, set[str]]:
    """kehadiran_pd.jsonl: one line per (student, tahun, bulan), each within the rules of ``shared.kehadiran``
    and none after the month the student left (``keluar``: this load's leavers; the database's are looked up);
    returns the months written and the students stored before this load that it changed."""
    if not path.is_file():
        return 0, set()
    seen: dict[tuple[str, int, int], int] = {}
    out = _Chunked(conn, repository.insert_kehadiran, errors)
    pending: list[tuple[int, KehadiranPdRecord]] = []
    earlier: set[str] = set()
    written = 0

    def check_pending() -> None:
        nonlocal written
        ids = {r.peserta_didik_id for _, r in pending}
        stored = _stored(conn, ids, loaded)
        old = sorted(stored - loaded)
        taken = repository.existing_kehadiran(conn, old) if old else set()
        left = {**(repository.keluar_dates(conn, old) if old else {}), **keluar}
        for number, rec in pending:
            pid = rec.peserta_didik_id
            if pid not in stored:
                errors.add(LineError(path.name, number, "peserta_didik_id", "unknown_peserta_didik",
                                     f"no peserta_didik with this peserta_didik_id in {PESERTA_DIDIK_FILE} or the "
                                     "database"))
            elif pid in left and (rec.tahun, rec.bulan) > (left[pid].year, left[pid].month):
                errors.add(LineError(path.name, number, "bulan", "after_keluar",
                                     f"{rec.tahun}-{rec.bulan:02d} is after the student left on {left[pid]}"))
            elif (pid, rec.tahun, rec.bulan) in taken:
                errors.add(LineError(path.name, number, "bulan", "exists",
                                     f"this student's {rec.tahun}-{rec.bulan:02d} is already loaded"))
            else:
                out.add({**rec.model_dump(), "last_update": now})
                written += 1
                if pid not in loaded:
                    earlier.add(pid)
        pending.clear()

    for number, rec in _validated(path, KehadiranPdRecord, errors):
        key = (rec.peserta_didik_id, rec.tahun, rec.bulan)
        if key in seen:
            errors.add(LineError(path.name, number, "bulan", "duplicate",
                                 f"this student's {rec.tahun}-{rec.bulan:02d} is also on line {seen[key]}"))
            continue
        seen[key] = number
        bad = kehadiran_service.violations(rec)
        for v in bad:
            errors.add(LineError(path.name, number, v.field, v.rule, v.message))
        if bad:
            continue
        pending.append((number, rec))
        if len(pending) >= CHUNK:
            check_pending()
    check_pending()
    out.flush()
    return written, earlier



def load_world(engine: Engine, directory: Path, *, replace: bool = False, max_errors: int = 1000,
               now: datetime | None = None) -> LoadReport:
    """Load ``directory`` into the database at ``engine``: everything, or (on any error) nothing."""
    report = LoadReport()
    errors = _Collector(report, max_errors)
    paths = {name: directory / name for name in (SEKOLAH_FILE, PESERTA_DIDIK_FILE)}
    for name, path in paths.items():
        if not path.is_file():
            errors.add(LineError(name, 0, "-", "missing_file", f"{path} does not exist"))
    if not report.ok:
        return report
    now = now or datetime.now(UTC)
    try:
        with engine.begin() as conn, load_page_cache(conn):
            # The gateway's lock order (README, *Locks*): the change counter, then the students (all of them).
            sync_service.begin_change(conn)
            pd_repository.lock_all(conn)
            if replace:
                repository.clear(conn)
            report.sekolah, sekolah_ids = _load_sekolah(conn, paths[SEKOLAH_FILE], now, errors, replace)
            seq = sync_service.next_change_seq(conn)  # one change for the whole load
            loaded = _load_peserta_didik(conn, paths[PESERTA_DIDIK_FILE], now, errors, replace, sekolah_ids, seq)
            report.peserta_didik = len(loaded)
            keluar = _load_keluar(conn, directory / KELUAR_FILE, errors, loaded)
            report.keluar, left = len(keluar), set(keluar) - loaded
            report.kehadiran, attended = _load_kehadiran(conn, directory / KEHADIRAN_FILE, now, errors, loaded,
                                                         keluar)
            if not report.ok:
                raise _Rollback
            # students loaded before whose attendance or leaving came now move in the hub's feed
            repository.mark_changed(conn, sorted(left | attended), now, seq)
            # Every student loaded now was validated and given its programme rows chunk by chunk; these
            # find the students of the database that still lack either (loaded before they existed).
            validasi_service.validate_pending(conn)
            kesejahteraan_service.reconcile_missing(conn)
    except _Rollback:
        report.sekolah = report.peserta_didik = report.kehadiran = report.keluar = 0
    return report
