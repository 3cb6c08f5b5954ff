"""Loading a world directory into the registry: validate every line, all-or-nothing, bulk inserts.

A world directory holds ``keluarga.jsonl``, ``anggota_keluarga.jsonl``, ``pkh.jsonl`` and ``kip.jsonl``,
and optionally ``bansos.jsonl`` (BPNT / PBI-JK) and ``kk_history.jsonl`` (past KK numbers), one ``*Record``
of ``shared.contracts.kemensos`` per line. Every line is validated (shape, duplicates
within the load and against the registry, references to families); the first errors are reported by
file, line, field and rule, and nothing is written unless every line is good. Rows are inserted in chunks
with one executemany per chunk inside a single transaction, so a million rows load in one pass with
bounded memory beyond the key sets used for duplicate and reference checks.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy import Engine
from sqlmodel import Session

from services.kemensos_mock.registry import repository as registry
from services.kemensos_mock.storage import unstorable_fields
from services.kemensos_mock.world import repository as repo
from shared.bulk import load_page_cache
from shared.contracts.kemensos import (
    AlasanGantiKk,
    AnggotaKeluargaRecord,
    BansosRecord,
    KeluargaRecord,
    KipRecord,
    KkHistoryRecord,
    PkhRecord,
)
from shared.db import session_scope

log = logging.getLogger("jembatan.kemensos.world")

FILES = ("keluarga", "anggota_keluarga", "pkh", "kip")
OPTIONAL_FILES = ("bansos", "kk_history")
CHUNK = 5000
MAX_REPORTED = 50

R = TypeVar("R", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class LineError:
    """One broken rule on one line. Messages never quote the offending value (it may be a NIK)."""

    file: str
    line: int
    field: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.rule}: {self.message}"


class LoadFailed(Exception):
    """The world was not loaded (nothing was written). ``errors`` holds the first ones, ``total`` counts all."""

    def __init__(self, errors: list[LineError], total: int) -> None:
        super().__init__(f"{total} error(s) in the world files; nothing was written")
        self.errors = errors
        self.total = total


@dataclass
class LoadReport:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FILES + OPTIONAL_FILES, 0))
    first_version: int | None = None
    last_version: int | None = None
    replaced: bool = False

    def __str__(self) -> str:
        rows = ", ".join(f"{n} {name}" for name, n in self.counts.items())
        versions = f"versions {self.first_version}..{self.last_version}" if self.first_version else "no versions"
        return f"loaded {rows} ({versions}{', registry replaced' if self.replaced else ''})"


def _field(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(line)"


@dataclass
class _Pending:
    """A chunk of validated rows waiting for the DB checks and the insert."""

    lines: list[int] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)

    def add(self, line: int, row: dict[str, Any]) -> None:
        self.lines.append(line)
        self.rows.append(row)

    def __len__(self) -> int:
        return len(self.rows)


class _Loader:
    def __init__(self, session: Session, *, registry_had_rows: bool, chunk: int, max_reported: int) -> None:
        self.session = session
        self.check_db = registry_had_rows  # only then can keys collide with, or refer to, stored rows
        self.chunk = chunk
        self.max_reported = max_reported
        self.errors: list[LineError] = []
        self.total_errors = 0
        self.report = LoadReport()
        self.at: datetime | None = None
        # Key -> line of first occurrence. Numbers as ints: 16-digit strings map one-to-one to ints.
        self.kk_lines: dict[int, int] = {}
        self.nik_lines: dict[int, int] = {}
        self.pkh_lines: dict[tuple[int, int, int], int] = {}
        self.kip_lines: dict[str, int] = {}
        self.bansos_lines: dict[tuple[int, str, int, int], int] = {}
        self.kk_lama_lines: dict[int, int] = {}
        self.kk_wilayah: dict[int, str] = {}  # KK number -> kode_wilayah of the families of this load
        # Families already in the registry that this load gives new members: they take new versions at
        # the end, so the change feed carries them again with their members.
        self.grown: dict[str, None] = {}

    # -- errors ---------------------------------------------------------------------------------

    def error(self, file: str, line: int, field_: str, rule: str, message: str) -> None:
        self.total_errors += 1
        if len(self.errors) < self.max_reported:
            self.errors.append(LineError(file, line, field_, rule, message))

    # -- reading --------------------------------------------------------------------------------

    def records(self, path: Path, model: type[R],
                on_invalid: Callable[[int, bytes], None] | None = None) -> Iterator[tuple[int, R]]:
        """Valid records of a JSONL file with their line numbers; invalid lines become errors."""
        with path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                if not raw.strip():
                    continue
                try:
                    record = model.model_validate_json(raw)
                except ValidationError as exc:
                    for e in exc.errors(include_input=False, include_url=False):
                        self.error(path.name, number, _field(tuple(e["loc"])), e["type"], e["msg"])
                    if on_invalid is not None:
                        on_invalid(number, raw)
                    continue
                bad = unstorable_fields(record)
                for name in bad:
                    self.error(path.name, number, name, "unstorable_text",
                               "text with a NUL character or a lone surrogate cannot be stored")
                if bad:
                    if on_invalid is not None:
                        on_invalid(number, raw)
                    continue
                yield number, record

    # -- writing --------------------------------------------------------------------------------

    def versions(self, count: int) -> tuple[int, datetime]:
        taken = registry.take_versions(self.session, count, at=self.at)
        self.at = taken.at  # one timestamp for the whole load
        if self.report.first_version is None:
            self.report.first_version = taken.first
        self.report.last_version = taken.last
        return taken.first, taken.at

    def flush(self, name: str, pending: _Pending, versioned: bool) -> None:
        if pending and not self.total_errors:
            if versioned:
                first, at = self.versions(len(pending))
                for offset, row in enumerate(pending.rows):
                    row["version"] = first + offset
                    row["created_at"] = row["updated_at"] = at
            repo.insert_rows(self.session, _TABLES[name], pending.rows)
        self.report.counts[name] += len(pending)
        pending.lines.clear()
        pending.rows.clear()

    def stream(self, path: Path, model: type[R], handle: Callable[[int, R, _Pending], None],
               check: Callable[[_Pending], None] | None, versioned: bool,
               on_invalid: Callable[[int, bytes], None] | None = None) -> None:
        name = path.name.removesuffix(".jsonl")
        pending = _Pending()
        for number, record in self.records(path, model, on_invalid):
            handle(number, record, pending)
            if len(pending) >= self.chunk:
                if check and self.check_db:
                    check(pending)
                self.flush(name, pending, versioned)
        if check and self.check_db:
            check(pending)
        self.flush(name, pending, versioned)

    def _duplicate(self, seen: dict[Any, int], key: Any, file: str, line: int, field_: str, what: str) -> bool:
        first = seen.get(key)
        if first is not None:
            self.error(file, line, field_, "duplicate", f"{what} already on line {first}")
            return True
        seen[key] = line
        return False

    def _in_db(self, pending: _Pending, column: Any, key_of: Callable[[dict[str, Any]], str], file: str,
               field_: str, what: str) -> None:
        stored = repo.existing(self.session, column, {key_of(r) for r in pending.rows})
        for line, row in zip(pending.lines, pending.rows, strict=True):
            if key_of(row) in stored:
                self.error(file, line, field_, "exists", f"{what} is already in the registry (use --replace)")

    def _family_known(self, no_kk: str, file: str, line: int, unresolved: list[tuple[int, str]]) -> None:
        if int(no_kk) in self.kk_lines:
            return
        if self.check_db:
            unresolved.append((line, no_kk))
        else:
            self.error(file, line, "no_kk", "unknown_family", "no family with this KK number in keluarga.jsonl")

    def _resolve_families(self, file: str, unresolved: list[tuple[int, str]], grows: bool = False) -> None:
        stored = repo.existing(self.session, repo.KELUARGA.c.no_kk, {kk for _, kk in unresolved})
        for line, kk in unresolved:
            if kk not in stored:
                self.error(file, line, "no_kk", "unknown_family",
                           "no family with this KK number in keluarga.jsonl or the registry")
            elif grows:
                self.grown[kk] = None
        unresolved.clear()

    def bump_grown(self) -> None:
        if self.grown and not self.total_errors:
            first, at = self.versions(len(self.grown))
            registry.bump_families(self.session, list(self.grown), first, at)

    # -- the four files -------------------------------------------------------------------------

    def keluarga(self, path: Path) -> None:
        def handle(line: int, rec: KeluargaRecord, pending: _Pending) -> None:
            if not self._duplicate(self.kk_lines, int(rec.no_kk), path.name, line, "no_kk", "this KK number"):
                self.kk_wilayah[int(rec.no_kk)] = rec.kode_wilayah
                pending.add(line, {"no_kk": rec.no_kk, "kode_wilayah": rec.kode_wilayah, "alamat": rec.alamat,
                                   "desil": rec.desil, "dtsen_triwulan": rec.dtsen_triwulan,
                                   "no_kks": rec.no_kks})

        def check(pending: _Pending) -> None:
            self._in_db(pending, repo.KELUARGA.c.no_kk, lambda r: r["no_kk"], path.name, "no_kk",
                        "this KK number")
            held = repo.existing(self.session, repo.KK_LAMA.c.no_kk, {r["no_kk"] for r in pending.rows})
            for line, row in zip(pending.lines, pending.rows, strict=True):
                if row["no_kk"] in held:
                    self.error(path.name, line, "no_kk", "held_before", "a registry family held this KK number "
                               "before; KK numbers are never reused")

        def on_invalid(line: int, raw: bytes) -> None:
            # A family line that is broken elsewhere still names its KK: its members are not orphans,
            # so they get no second, misleading error.
            try:
                no_kk = json.loads(raw).get("no_kk")
            except (ValueError, AttributeError):
                return
            if isinstance(no_kk, str) and len(no_kk) == 16 and no_kk.isdigit():
                self.kk_lines.setdefault(int(no_kk), line)

        self.stream(path, KeluargaRecord, handle, check, versioned=True, on_invalid=on_invalid)

    def anggota(self, path: Path) -> None:
        unresolved: list[tuple[int, str]] = []

        def handle(line: int, rec: AnggotaKeluargaRecord, pending: _Pending) -> None:
            self._family_known(rec.no_kk, path.name, line, unresolved)
            if not self._duplicate(self.nik_lines, int(rec.nik), path.name, line, "nik", "this NIK"):
                pending.add(line, {"nik": rec.nik, "no_kk": rec.no_kk, "nama": rec.nama,
                                   "jenis_kelamin": rec.jenis_kelamin.value, "tempat_lahir": rec.tempat_lahir,
                                   "tanggal_lahir": rec.tanggal_lahir, "nama_ibu_kandung": rec.nama_ibu_kandung,
                                   "hubungan_keluarga": rec.hubungan_keluarga.value,
                                   "tahun_lahir": rec.tanggal_lahir.year,
                                   "kode_wilayah": self.kk_wilayah.get(int(rec.no_kk))})

        def check(pending: _Pending) -> None:
            self._resolve_families(path.name, unresolved, grows=True)
            self._in_db(pending, repo.ANGGOTA.c.nik, lambda r: r["nik"], path.name, "nik", "this NIK")
            stored = repo.wilayah_of(self.session, {r["no_kk"] for r in pending.rows if r["kode_wilayah"] is None})
            for row in pending.rows:  # members of families already in the registry
                if row["kode_wilayah"] is None:
                    row["kode_wilayah"] = stored.get(row["no_kk"])

        self.stream(path, AnggotaKeluargaRecord, handle, check, versioned=False)

    def pkh(self, path: Path) -> None:
        unresolved: list[tuple[int, str]] = []

        def handle(line: int, rec: PkhRecord, pending: _Pending) -> None:
            self._family_known(rec.no_kk, path.name, line, unresolved)
            key = (int(rec.no_kk), rec.tahun, rec.tahap)
            if not self._duplicate(self.pkh_lines, key, path.name, line, "tahap", "this family's period"):
                pending.add(line, {"no_kk": rec.no_kk, "tahun": rec.tahun, "tahap": rec.tahap,
                                   "status": rec.status.value, "komponen": [k.value for k in rec.komponen],
                                   "penerima": [p.model_dump(mode="json") for p in rec.penerima]})

        def check(pending: _Pending) -> None:
            self._resolve_families(path.name, unresolved)
            stored = repo.existing_pkh_periods(self.session, {r["no_kk"] for r in pending.rows})
            for line, r in zip(pending.lines, pending.rows, strict=True):
                if (r["no_kk"], r["tahun"], r["tahap"]) in stored:
                    self.error(path.name, line, "tahap", "exists",
                               "this family's period is already in the registry (use --replace)")

        self.stream(path, PkhRecord, handle, check, versioned=True)

    def kip(self, path: Path) -> None:
        def handle(line: int, rec: KipRecord, pending: _Pending) -> None:
            if not self._duplicate(self.kip_lines, rec.no_kip, path.name, line, "no_kip", "this KIP number"):
                pending.add(line, {"no_kip": rec.no_kip, "nama": rec.nama, "tanggal_lahir": rec.tanggal_lahir,
                                   "nama_ibu_kandung": rec.nama_ibu_kandung, "kode_wilayah": rec.kode_wilayah,
                                   "jenjang": rec.jenjang.value, "nik": rec.nik, "tahun": rec.tahun})

        def check(pending: _Pending) -> None:
            self._in_db(pending, repo.KIP.c.no_kip, lambda r: r["no_kip"], path.name, "no_kip",
                        "this KIP number")

        self.stream(path, KipRecord, handle, check, versioned=True)


    def bansos(self, path: Path) -> None:
        unresolved: list[tuple[int, str]] = []

        def handle(line: int, rec: BansosRecord, pending: _Pending) -> None:
            self._family_known(rec.no_kk, path.name, line, unresolved)
            key = (int(rec.no_kk), rec.program.value, rec.tahun, rec.tahap)
            if not self._duplicate(self.bansos_lines, key, path.name, line, "tahap",
                                   "this family's programme period"):
                pending.add(line, {"no_kk": rec.no_kk, "program": rec.program.value, "tahun": rec.tahun,
                                   "tahap": rec.tahap, "status": rec.status.value})

        def check(pending: _Pending) -> None:
            self._resolve_families(path.name, unresolved, grows=True)
            stored = repo.existing_bansos_periods(self.session, {r["no_kk"] for r in pending.rows})
            for line, r in zip(pending.lines, pending.rows, strict=True):
                if (r["no_kk"], r["program"], r["tahun"], r["tahap"]) in stored:
                    self.error(path.name, line, "tahap", "exists",
                               "this family's programme period is already in the registry (use --replace)")

        self.stream(path, BansosRecord, handle, check, versioned=True)

    def kk_history(self, path: Path) -> None:
        """Past KK numbers of families (of this load or the registry). A past number no family may hold now,
        nor have held before: KK numbers are never reused. A split's old number is also the family's
        ``asal_no_kk``."""
        pending_rows: list[tuple[int, KkHistoryRecord]] = []

        def flush() -> None:
            if not pending_rows:
                return
            current = repo.families_by_kk(self.session, {r.no_kk for _, r in pending_rows}
                                          | {r.no_kk_lama for _, r in pending_rows})
            held = repo.existing(self.session, repo.KK_LAMA.c.no_kk, {r.no_kk_lama for _, r in pending_rows})
            rows, splits = [], []
            for line, rec in pending_rows:
                family = current.get(rec.no_kk)
                if family is None:
                    self.error(path.name, line, "no_kk", "unknown_family", "no family with this KK number in "
                               "keluarga.jsonl or the registry")
                elif rec.no_kk_lama in current or int(rec.no_kk_lama) in self.kk_lines:
                    self.error(path.name, line, "no_kk_lama", "held_by_a_family",
                               "a family holds this KK number now; KK numbers are never reused")
                elif rec.no_kk_lama in held:
                    self.error(path.name, line, "no_kk_lama", "exists", "this past KK number is already in the "
                               "registry")
                else:
                    rows.append({"keluarga_id": family[0], "no_kk": rec.no_kk_lama, "version": family[1],
                                 "replaced_at": datetime.combine(rec.diganti_pada, time(), UTC),
                                 "alasan": rec.alasan.value})
                    if rec.alasan is AlasanGantiKk.PECAH_KK:
                        splits.append({"kk": rec.no_kk, "asal": rec.no_kk_lama})
            if not self.total_errors:
                repo.insert_rows(self.session, repo.KK_LAMA, rows)
                repo.set_split_origins(self.session, splits)
            self.report.counts["kk_history"] += len(pending_rows)
            pending_rows.clear()

        for line, rec in self.records(path, KkHistoryRecord):
            if not self._duplicate(self.kk_lama_lines, int(rec.no_kk_lama), path.name, line, "no_kk_lama",
                                   "this past KK number"):
                pending_rows.append((line, rec))
            if len(pending_rows) >= self.chunk:
                flush()
        flush()


_TABLES = {"keluarga": repo.KELUARGA, "anggota_keluarga": repo.ANGGOTA, "pkh": repo.PKH, "kip": repo.KIP,
           "bansos": repo.BANSOS}





def load_world(engine: Engine, directory: Path, *, replace: bool = False, chunk: int = CHUNK,
               max_reported: int = MAX_REPORTED) -> LoadReport:
    """Load a world directory in one transaction; raise ``LoadFailed`` (nothing written) on any bad line.

    With ``replace`` the registry is emptied first (in the same transaction). Without it, rows are added
    to what the registry holds and a key it already has is an error.
    """
    paths = {name: directory / f"{name}.jsonl" for name in FILES}
    missing = [LineError(p.name, 0, "(file)", "missing", f"{p.name} not found in the world directory")
               for p in paths.values() if not p.is_file()]
    if missing:
        raise LoadFailed(missing, len(missing))
    with session_scope(engine) as session, load_page_cache(session):
        removed = registry.count_families(session) if replace else 0
        loader = _Loader(session, registry_had_rows=False, chunk=chunk, max_reported=max_reported)
        if removed:  # the change feed tells replicas that every family so far is gone
            first, at = loader.versions(removed)
            registry.tombstone_all(session, first, at)
        if replace:
            repo.clear(session)
        loader.check_db = not repo.is_empty(session)
        loader.report.replaced = replace
        loader.keluarga(paths["keluarga"])
        loader.anggota(paths["anggota_keluarga"])
        loader.pkh(paths["pkh"])
        loader.kip(paths["kip"])
        for name in OPTIONAL_FILES:
            if (directory / f"{name}.jsonl").is_file():
                getattr(loader, name)(directory / f"{name}.jsonl")
        loader.bump_grown()
        if loader.total_errors:
            log.warning("world load refused: %d error(s)", loader.total_errors)
            raise LoadFailed(loader.errors, loader.total_errors)  # session_scope rolls back
    log.info("%s", loader.report)
    return loader.report
