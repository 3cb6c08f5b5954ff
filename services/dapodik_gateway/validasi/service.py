"""Validation before sync: findings computed by ``rules.validate`` and stored set-wise whenever records are
loaded, imported or edited; read per student and per school, and carried on every read of a record (the hub's
feed included: a held-back record reaches the hub with its findings)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, Engine
from sqlmodel import Session

from services.dapodik_gateway import paging
from services.dapodik_gateway.sekolah import service as sekolah_service
from services.dapodik_gateway.validasi import repository, rules
from shared.contracts.common import Page
from shared.contracts.dapodik import StatusValidasi, TemuanValidasi, ValidasiPesertaDidik
from shared.errors import NotFound

log = logging.getLogger("dapodik_gateway.validasi")


def findings(records: Sequence[Mapping[str, Any]], now: datetime
             ) -> tuple[dict[str, StatusValidasi], list[dict[str, Any]]]:
    """The worst class of each record (by ``peserta_didik_id``) and its ``vld_peserta_didik`` rows, the
    records validated together (``rules.validate_many``)."""
    status: dict[str, StatusValidasi] = {}
    rows: list[dict[str, Any]] = []
    for rec, found in zip(records, rules.validate_many(records), strict=True):
        pid = rec["peserta_didik_id"]
        status[pid] = rules.status_of(found)
        rows += [{"peserta_didik_id": pid, "idtype": f.rule.idtype, "kode": f.rule.kode,
                  "status_validasi": f.rule.status.value, "field_error": f.field,
                  "error_message": f.message[:300], "create_date": now} for f in found]
    return status, rows


def revalidate(conn: Connection, ids: Sequence[str], now: datetime | None = None) -> dict[str, StatusValidasi]:
    """Validate the given students again (in the caller's transaction); their worst class each."""
    now = now or datetime.now(UTC)
    out: dict[str, StatusValidasi] = {}
    ids = list(ids)
    for i in range(0, len(ids), repository.CHUNK):
        status, rows = findings(repository.records(conn, ids[i:i + repository.CHUNK], rules.FIELDS), now)
        out.update(status)
        repository.replace(conn, {pid: s.value for pid, s in status.items()}, rows)
    return out


def validate_pending(conn: Connection) -> int:
    """Validate every student not validated yet (rows loaded before validation existed); how many."""
    done = 0
    while ids := repository.pending_ids(conn, repository.CHUNK):
        revalidate(conn, ids)
        done += len(ids)
    return done


def validate_pending_on(engine: Engine) -> int:
    with engine.begin() as conn:
        done = validate_pending(conn)
    if done:
        log.info("validated %d student(s) that had not been validated yet", done)
    return done


def _temuan(row: sa.RowMapping) -> TemuanValidasi:
    return TemuanValidasi(idtype=row["idtype"], kode=row["kode"], status_validasi=row["status_validasi"],
                          field_error=row["field_error"], error_message=row["error_message"])


def _contract(student: sa.RowMapping, found: list[sa.RowMapping]) -> ValidasiPesertaDidik:
    return ValidasiPesertaDidik(
        peserta_didik_id=student["peserta_didik_id"], sekolah_id=student["sekolah_id"], nipd=student["nipd"],
        nama=student["nama"], status_validasi=student["status_validasi"] or 0,
        temuan=[_temuan(f) for f in found], last_update=student["last_update"])


def for_school(session: Session, npsn: str, min_status: StatusValidasi, cursor: str | None, limit: int
               ) -> Page[ValidasiPesertaDidik]:
    """A school's students with findings of at least ``min_status`` (INVALID: the records held back)."""
    after = paging.parse_cursor(cursor)
    sekolah_id = sekolah_service.require_sekolah_id(session, npsn)
    rows = repository.students_with_findings(session, sekolah_id, max(1, min_status.value), after, limit)
    page, next_cursor = paging.cut(rows, limit, lambda r: (r["last_update"], r["peserta_didik_id"]))
    found = repository.findings(session, [r["peserta_didik_id"] for r in page])
    return Page[ValidasiPesertaDidik](items=[_contract(r, found.get(r["peserta_didik_id"], [])) for r in page],
                                      next_cursor=next_cursor)


def for_student(session: Session, peserta_didik_id: str) -> ValidasiPesertaDidik:
    row = repository.student(session, peserta_didik_id)
    if row is None:
        raise NotFound.field("peserta_didik_id", "not_found", "no student with this peserta_didik_id")
    return _contract(row, repository.findings(session, [peserta_didik_id]).get(peserta_didik_id, []))


def temuan(row: Mapping[str, Any]) -> TemuanValidasi:
    """A finding row (read by column name) as the read model shows it."""
    return _temuan(row)  # type: ignore[arg-type]


def temuan_data(row: Mapping[str, Any]) -> dict[str, Any]:
    """``temuan`` as plain data in ``TemuanValidasi``'s field order."""
    return {"idtype": row["idtype"], "kode": row["kode"], "status_validasi": row["status_validasi"],
            "field_error": row["field_error"], "error_message": row["error_message"]}


def temuan_of(session: Session, ids: Sequence[str]) -> dict[str, list[TemuanValidasi]]:
    """Every finding of each student (by id), in the order they were found; students without any are absent."""
    return {pid: [_temuan(f) for f in found] for pid, found in repository.findings(session, ids).items()}
