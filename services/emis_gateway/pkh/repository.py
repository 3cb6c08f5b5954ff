"""All SQL of the PKH requests: the durable queue, its leases, the answers."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from services.emis_gateway.madrasah.models import MadrasahRow
from services.emis_gateway.pkh.models import PkhRequestItemRow, PkhRequestRow
from services.emis_gateway.siswa import repository as siswa_repository
from services.emis_gateway.siswa.models import SiswaRow
from shared.bulk import executemany
from shared.db import apart, built_once, together

REQUEST: sa.Table = PkhRequestRow.__table__  # type: ignore[assignment]
ITEM: sa.Table = PkhRequestItemRow.__table__  # type: ignore[assignment]
SISWA: sa.Table = SiswaRow.__table__  # type: ignore[assignment]
MADRASAH: sa.Table = MadrasahRow.__table__  # type: ignore[assignment]

QUEUED, DONE, FAILED = "PENDING", "DONE", "FAILED"

# The statements of a one-student press, built once per process: a statement built per call costs its
# construction and its cache key each time (SQLAlchemy memoises the key of a statement object), ~a third of the
# SQL layer's CPU for these small statements. Bound parameters are named b_* (a SET clause reserves the columns').
_INSERT_REQUEST = sa.insert(REQUEST)
_INSERT_ITEM = sa.insert(ITEM)
_ANSWER_ONE = (
    sa.update(ITEM)
    .where(ITEM.c.request_id == sa.bindparam("b_request_id"), ITEM.c.position == sa.bindparam("b_position"),
           ITEM.c.state == QUEUED)
    .values(state=sa.bindparam("b_state", type_=ITEM.c.state.type),
            outcome=sa.bindparam("b_outcome", type_=ITEM.c.outcome.type),
            detail=sa.bindparam("b_detail", type_=ITEM.c.detail.type),
            matched_by=sa.bindparam("b_matched_by", type_=ITEM.c.matched_by.type),
            sync_run_id=sa.bindparam("b_sync_run_id", type_=ITEM.c.sync_run_id.type),
            answered_at=sa.bindparam("b_now", type_=ITEM.c.answered_at.type)))
_FINISHED = {  # a one-student request finished: its counters, status and times, its lease let go
    "status": sa.bindparam("b_status", type_=REQUEST.c.status.type),
    "done": sa.bindparam("b_done", type_=REQUEST.c.done.type),
    "failed": sa.bindparam("b_failed", type_=REQUEST.c.failed.type),
    "updated_at": sa.bindparam("b_now", type_=REQUEST.c.updated_at.type),
    "finished_at": sa.bindparam("b_now", type_=REQUEST.c.finished_at.type),
    "lease_until": None, "last_error": None}
_FINISH_ONE = (
    sa.update(REQUEST).where(REQUEST.c.id == sa.bindparam("b_request_id"))
    .values(_FINISHED)
    .returning(*REQUEST.c))
# PostgreSQL: both in one statement (the item's UPDATE a data-modifying CTE; the request finished only when it
# answered the item), so a press's answer costs one round trip instead of two
_ANSWERED_ONE = _ANSWER_ONE.returning(ITEM.c.request_id).cte("answered")
_RECORD_ONE_PG = (
    sa.update(REQUEST).where(REQUEST.c.id == sa.bindparam("b_request_id"),
                             sa.exists(sa.select(_ANSWERED_ONE.c.request_id)))
    .values(_FINISHED)
    .returning(*REQUEST.c))
# PostgreSQL: the request and its item in one statement (the request's INSERT a data-modifying CTE the item's
# reads its id from); the same two rows ``_INSERT_REQUEST`` and ``_INSERT_ITEM`` write
_REQUEST_COLUMNS = ("id", "scope", "nsm", "siswa_id", "requested_by", "status", "total", "done", "failed", "attempts",
                    "next_attempt_at", "lease_until", "created_at", "updated_at")
_STORED = (sa.insert(REQUEST)
           .values({c: sa.bindparam(f"b_{c}", type_=REQUEST.c[c].type) for c in _REQUEST_COLUMNS})
           .returning(REQUEST.c.id).cte("stored"))
_ADD_ONE_PG = (
    sa.insert(ITEM)
    .from_select(["request_id", "position", "siswa_id", "state"],
                 sa.select(_STORED.c.id, sa.bindparam("b_position", type_=ITEM.c.position.type),
                           sa.bindparam("b_item_siswa_id", type_=ITEM.c.siswa_id.type),
                           sa.bindparam("b_state", type_=ITEM.c.state.type)))
    .add_cte(_STORED))
# the student's row (every column, as ``siswa.repository.get_record`` reads it) with its institution's kind and
# region, under names of their own (``institution_of`` reads them)
_INSTITUTION_NSM, _INSTITUTION_KIND, _INSTITUTION_REGION = (
    "institution_nsm", "institution_jenis_lembaga", "institution_kode_wilayah")
_RECORD_WITH_INSTITUTION = (
    sa.select(SISWA, MADRASAH.c.nsm.label(_INSTITUTION_NSM), MADRASAH.c.jenis_lembaga.label(_INSTITUTION_KIND),
              MADRASAH.c.kode_wilayah.label(_INSTITUTION_REGION))
    .select_from(SISWA.outerjoin(MADRASAH, MADRASAH.c.nsm == SISWA.c.nsm))
    .where(SISWA.c.siswa_id == sa.bindparam("b_siswa_id")))
# PostgreSQL: ``record_one`` for several requests in one statement, their answers bound as one JSON array
_GIVEN = (sa.func.json_to_recordset(sa.cast(sa.bindparam("b_answers", type_=sa.String), sa.JSON))
          .table_valued(sa.column("request_id", sa.String), sa.column("position", sa.Integer),
                        sa.column("state", sa.String), sa.column("outcome", sa.String), sa.column("detail", sa.String),
                        sa.column("matched_by", sa.String), sa.column("sync_run_id", sa.String))
          .render_derived(name="given", with_types=True))
_ANSWERED_MANY = (
    sa.update(ITEM)
    .where(ITEM.c.request_id == _GIVEN.c.request_id, ITEM.c.position == _GIVEN.c.position, ITEM.c.state == QUEUED)
    .values(state=_GIVEN.c.state, outcome=_GIVEN.c.outcome, detail=_GIVEN.c.detail, matched_by=_GIVEN.c.matched_by,
            sync_run_id=_GIVEN.c.sync_run_id, answered_at=sa.bindparam("b_now", type_=ITEM.c.answered_at.type))
    .returning(ITEM.c.request_id, ITEM.c.state).cte("answered"))
_FAILED = _ANSWERED_MANY.c.state == FAILED
_RECORD_MANY_PG = (
    sa.update(REQUEST).where(REQUEST.c.id == _ANSWERED_MANY.c.request_id)
    .values(status=sa.case((_FAILED, FAILED), else_=DONE), done=sa.case((_FAILED, 0), else_=1),
            failed=sa.case((_FAILED, 1), else_=0), updated_at=sa.bindparam("b_now", type_=REQUEST.c.updated_at.type),
            finished_at=sa.bindparam("b_now", type_=REQUEST.c.finished_at.type), lease_until=None, last_error=None)
    .returning(*REQUEST.c))
_INSTITUTIONS = (sa.select(MADRASAH.c.nsm, MADRASAH.c.jenis_lembaga, MADRASAH.c.kode_wilayah)
                 .where(MADRASAH.c.nsm.in_(sa.bindparam("b_nsms", expanding=True))))


def add(session: Session, row: PkhRequestRow, siswa_ids: Sequence[str]) -> None:
    session.add(row)
    session.flush()
    executemany(session, sa.insert(ITEM), [{"request_id": row.id, "position": n, "siswa_id": sid, "state": QUEUED}
                                           for n, sid in enumerate(siswa_ids)])


def add_one(session: Session, values: dict[str, object], siswa_id: str) -> None:
    """A request for one student (``values``: the request's columns) and its one item: no ORM unit of work,
    statements compiled once per process; one statement on PostgreSQL (so it needs no transaction of its own:
    ``shared.db.statement_at_a_time``), two plain INSERTs on SQLite."""
    if session.get_bind().dialect.name == "postgresql":
        params = {f"b_{c}": values[c] for c in _REQUEST_COLUMNS}
        params.update(b_position=0, b_item_siswa_id=siswa_id, b_state=QUEUED)
        session.execute(_ADD_ONE_PG, params)
        return
    session.execute(_INSERT_REQUEST, values)
    session.execute(_INSERT_ITEM, {"request_id": values["id"], "position": 0, "siswa_id": siswa_id, "state": QUEUED})


def add_ones(session: Session, requests: Sequence[dict[str, object]]) -> None:
    """``add_one`` for several requests at once (each of one student, its ``siswa_id`` among its columns): two
    ``executemany`` INSERTs."""
    if not requests:
        return
    session.execute(_INSERT_REQUEST, list(requests))
    session.execute(_INSERT_ITEM, [{"request_id": r["id"], "position": 0, "siswa_id": r["siswa_id"], "state": QUEUED}
                                   for r in requests])


def get(session: Session, request_id: str) -> PkhRequestRow | None:
    return session.get(PkhRequestRow, request_id)


def pending_for_madrasah(session: Session, nsm: str) -> PkhRequestRow | None:
    stmt = (select(PkhRequestRow).where(PkhRequestRow.nsm == nsm, PkhRequestRow.status == QUEUED,
                                        PkhRequestRow.scope == "madrasah")
            .order_by(col(PkhRequestRow.created_at)).limit(1))
    return session.exec(stmt).first()


def active_students(session: Session, nsm: str) -> list[str]:
    stmt = (sa.select(SISWA.c.siswa_id).where(SISWA.c.nsm == nsm, SISWA.c.status_aktif.is_(True))
            .order_by(SISWA.c.siswa_id))
    return list(session.execute(stmt).scalars())


def outcome_counts(session: Session, request_id: str) -> dict[str, int]:
    stmt = (sa.select(ITEM.c.outcome, sa.func.count()).where(ITEM.c.request_id == request_id,
                                                            ITEM.c.state == DONE, ITEM.c.outcome.is_not(None))
            .group_by(ITEM.c.outcome))
    return {outcome: int(n) for outcome, n in session.execute(stmt)}


def items(session: Session, request_id: str, after: int, limit: int) -> Sequence[PkhRequestItemRow]:
    stmt = (select(PkhRequestItemRow).where(PkhRequestItemRow.request_id == request_id,
                                            PkhRequestItemRow.position > after)
            .order_by(col(PkhRequestItemRow.position)).limit(limit + 1))
    return session.exec(stmt).all()


def queued_items(session: Session, request_id: str, limit: int) -> list[tuple[int, str]]:
    """The next ``limit`` students still waiting, as (position, siswa_id)."""
    stmt = (sa.select(ITEM.c.position, ITEM.c.siswa_id).where(ITEM.c.request_id == request_id,
                                                             ITEM.c.state == QUEUED)
            .order_by(ITEM.c.position).limit(limit))
    return [(int(p), str(s)) for p, s in session.execute(stmt)]


def due(session: Session, now: datetime, limit: int = 1) -> list[str]:
    """PENDING requests whose retry time has come and that nobody holds, oldest retry first."""
    stmt = (sa.select(REQUEST.c.id).where(REQUEST.c.status == QUEUED, REQUEST.c.next_attempt_at <= now,
                                          sa.or_(REQUEST.c.lease_until.is_(None), REQUEST.c.lease_until < now))
            .order_by(REQUEST.c.next_attempt_at, REQUEST.c.id).limit(limit))
    return list(session.execute(stmt).scalars())


def claim(session: Session, request_id: str, now: datetime, until: datetime) -> bool:
    """Take the request's lease if it is PENDING and nobody holds it; whether it was taken."""
    result = session.execute(
        sa.update(REQUEST)
        .where(REQUEST.c.id == request_id, REQUEST.c.status == QUEUED,
               sa.or_(REQUEST.c.lease_until.is_(None), REQUEST.c.lease_until < now))
        .values(lease_until=until))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def clear_leases(session: Session) -> int:
    """Forget every lease (at start: a lease of a stopped process holds nothing)."""
    result = session.execute(sa.update(REQUEST).where(REQUEST.c.lease_until.is_not(None)).values(lease_until=None))
    return int(result.rowcount)  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Answer:
    position: int
    state: str  # DONE or FAILED
    outcome: str | None
    detail: str | None
    matched_by: str | None
    sync_run_id: str | None


def record(session: Session, request_id: str, answers: Sequence[Answer], now: datetime, lease: datetime) -> bool:
    """Store the answers of some students (only ones still waiting) and move the request's counters; the
    request is finished (DONE, or FAILED when some student could not be asked, its lease let go) once nobody
    waits. Whether it is finished."""
    executemany(session, sa.update(ITEM).where(ITEM.c.request_id == sa.bindparam("b_request_id"),
                                               ITEM.c.position == sa.bindparam("b_position"),
                                               ITEM.c.state == QUEUED),
                [{"b_request_id": request_id, "b_position": a.position, "state": a.state, "outcome": a.outcome,
                  "detail": a.detail, "matched_by": a.matched_by, "sync_run_id": a.sync_run_id,
                  "answered_at": now} for a in answers])
    counts = dict(session.execute(sa.select(ITEM.c.state, sa.func.count()).where(ITEM.c.request_id == request_id)
                                  .group_by(ITEM.c.state)).all())
    waiting, failed = int(counts.get(QUEUED, 0)), int(counts.get(FAILED, 0))
    values: dict[str, object] = {"done": int(counts.get(DONE, 0)), "failed": failed, "updated_at": now,
                                 "lease_until": lease}
    if waiting == 0:
        values.update(status=FAILED if failed else DONE, finished_at=now, lease_until=None, last_error=None)
    session.execute(sa.update(REQUEST).where(REQUEST.c.id == request_id).values(**values))
    return waiting == 0


def record_one(session: Session, request_id: str, answer: Answer, now: datetime) -> sa.Row[Any] | None:
    """``record`` for a request of exactly one student (``add_one``): its item answered, the request finished
    (DONE, or FAILED when the student could not be asked) and its lease let go, in one statement on PostgreSQL (two
    on SQLite); the request's row as now stored. None when the item was answered already (by the worker, once this
    caller's lease ran out): nothing is written and the caller takes ``record``'s way."""
    failed = answer.state == FAILED
    params = {"b_request_id": request_id, "b_position": answer.position, "b_state": answer.state,
              "b_outcome": answer.outcome, "b_detail": answer.detail, "b_matched_by": answer.matched_by,
              "b_sync_run_id": answer.sync_run_id, "b_now": now, "b_status": FAILED if failed else DONE,
              "b_done": 0 if failed else 1, "b_failed": 1 if failed else 0}
    if session.get_bind().dialect.name == "postgresql":
        return session.execute(_RECORD_ONE_PG, params).one_or_none()
    answered = session.execute(_ANSWER_ONE, params)
    if answered.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return session.execute(_FINISH_ONE, params).one()


def record_ones(session: Session, answers: Sequence[tuple[str, Answer]], now: datetime
                ) -> dict[str, sa.Row[Any] | None]:
    """``record_one`` for several one-student requests (request id, its answer; each request once): request id ->
    the request's row as now stored, or None when its item was answered already (nothing written for it). One
    statement on PostgreSQL (the answers bound as one JSON array), ``record_one`` for each elsewhere."""
    if session.get_bind().dialect.name != "postgresql":
        return {rid: record_one(session, rid, answer, now) for rid, answer in answers}
    given = json.dumps([{"request_id": rid, "position": a.position, "state": a.state, "outcome": a.outcome,
                         "detail": a.detail, "matched_by": a.matched_by, "sync_run_id": a.sync_run_id}
                        for rid, a in answers])
    out: dict[str, sa.Row[Any] | None] = dict.fromkeys((rid for rid, _ in answers), None)
    for row in session.execute(_RECORD_MANY_PG, {"b_answers": given, "b_now": now}):
        out[row.id] = row
    return out


def postpone(session: Session, request_id: str, now: datetime, retry_at: datetime, error: str) -> None:
    """The registry could not be reached: try again at ``retry_at``; the lease is let go."""
    session.execute(sa.update(REQUEST).where(REQUEST.c.id == request_id).values(
        attempts=REQUEST.c.attempts + 1, next_attempt_at=retry_at, last_error=error[:300], lease_until=None,
        updated_at=now))


def release(session: Session, request_id: str) -> None:
    session.execute(sa.update(REQUEST).where(REQUEST.c.id == request_id).values(lease_until=None))


def record_with_institution(session: Session, siswa_id: str) -> sa.Row[Any] | None:
    """The student's row as ``siswa.repository.get_record`` reads it, with its institution's columns (read them with
    ``institution_of``), or None: one statement where ``get_record`` and ``institutions_of`` are two."""
    return session.execute(_RECORD_WITH_INSTITUTION, {"b_siswa_id": siswa_id}).first()


class Record:
    """A student's row read by ``record_with_read_model``, read as ``record_with_institution``'s row is: its columns
    as attributes, and by name through ``_mapping``."""

    __slots__ = ("_mapping",)

    def __init__(self, mapping: dict[str, Any]) -> None:
        self._mapping = mapping

    def __getattr__(self, name: str) -> Any:
        try:
            return self._mapping[name]
        except KeyError:
            raise AttributeError(name) from None


def _record_with_read_model() -> sa.Select:  # type: ignore[type-arg]
    return together((_RECORD_WITH_INSTITUTION, ()), *siswa_repository.read_model_part_list())


def record_with_read_model(session: Session, siswa_id: str
                           ) -> tuple[Record | None, list[dict[str, Any]], list[dict[str, Any]]]:
    """PostgreSQL only: ``record_with_institution`` and what ``siswa.repository.provenance_and_months`` reads for
    the student, in one statement (``shared.db.together``; a press's reads in one round trip instead of two): the
    row (None when there is no such student) and the provenance and months rows (``siswa.service.from_parts``
    makes the read model of them)."""
    stmt = built_once("emis.record_with_read_model", _record_with_read_model)
    rows = session.execute(stmt, {"b_siswa_id": siswa_id, "ids": json.dumps([siswa_id])}).all()
    record, provenance, months = apart(stmt, rows)
    return (Record(record[0]) if record else None), provenance, months


def institution_of(row: sa.Row[Any] | Record) -> dict[str, tuple[str, str]]:
    """What ``institutions_of(session, [row.nsm])`` answers, from a ``record_with_institution`` row."""
    found = row._mapping
    if found[_INSTITUTION_NSM] is None:
        return {}
    return {str(found[_INSTITUTION_NSM]): (str(found[_INSTITUTION_KIND]), str(found[_INSTITUTION_REGION]))}


def institutions_of(session: Session, nsms: Sequence[str]) -> dict[str, tuple[str, str]]:
    """NSM -> (jenis_lembaga, kode_wilayah) of the institutions among ``nsms``: in one statement, which of them are
    pesantren (a record's ``nspp``) and each one's region (the hub blocks by it)."""
    if not nsms:
        return {}
    return {str(n): (str(j), str(k)) for n, j, k in session.execute(_INSTITUTIONS, {"b_nsms": sorted(set(nsms))})}


def regions_of(session: Session, nsms: Sequence[str]) -> dict[str, str]:
    """NSM -> kode_wilayah of the madrasah among ``nsms`` (a school's region: the hub blocks by it)."""
    if not nsms:
        return {}
    stmt = sa.select(MADRASAH.c.nsm, MADRASAH.c.kode_wilayah).where(MADRASAH.c.nsm.in_(sorted(set(nsms))))
    return {str(n): str(k) for n, k in session.execute(stmt)}
