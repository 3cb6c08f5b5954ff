"""All SQL of the siswa domain."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from services.emis_gateway import paging
from services.emis_gateway.kehadiran.models import KehadiranSiswaRow
from services.emis_gateway.results import repository as results_repository
from services.emis_gateway.siswa.models import SiswaRow
from shared.cursor import Cursor
from shared.db import apart, built_once, together
from shared.inbound import FieldValue
from shared.kehadiran import each_student_part

SISWA: sa.Table = SiswaRow.__table__  # type: ignore[assignment]


def read_model_part_list() -> list[tuple[sa.Select, tuple[str, ...]]]:  # type: ignore[type-arg]
    """The parts ``provenance_and_months`` reads together (the student ids bound as ``ids``): for a caller that
    reads them with more (``shared.db.together``)."""
    return [results_repository.latest_provenance_part(), each_student_part(KehadiranSiswaRow.__table__, "siswa_id")]


def _provenance_and_months() -> sa.Select:  # type: ignore[type-arg]
    return together(*read_model_part_list())


def provenance_and_months(session: Session, siswa_ids: Sequence[str]
                          ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """PostgreSQL only: what ``results.repository.latest_provenance`` and ``kehadiran.repository.of_students``
    read for these students, in one statement (``shared.db.together``: one round trip and one execution instead of
    two, for a press's record): the provenance rows (``results.repository.provenance_of`` reads them) and the
    months, each in its own statement's order."""
    stmt = built_once("emis.provenance_and_months", _provenance_and_months)
    provenance, months = apart(stmt, session.execute(stmt, {"ids": json.dumps(sorted(set(siswa_ids)))}).all())
    return provenance, months


def range_page(session: Session, after_id: str | None, limit: int, scope: frozenset[str] | None = None, *,
               id_after: str | None = None, id_upto: str | None = None) -> Sequence[SiswaRow]:
    """The students whose id is above ``id_after`` and up to ``id_upto`` (a range of the feed), after ``after_id`` in
    id order, one more than ``limit`` (to know if more follow): the primary key walked over the range's ids only."""
    low = max((v for v in (after_id, id_after) if v is not None), default=None)
    stmt = select(SiswaRow)
    if low is not None:
        stmt = stmt.where(SiswaRow.siswa_id > low)
    if id_upto is not None:
        stmt = stmt.where(SiswaRow.siswa_id <= id_upto)
    if scope is not None:
        stmt = stmt.where(SiswaRow.nsm.in_(sorted(scope)))  # type: ignore[attr-defined]
    return session.exec(stmt.order_by(SiswaRow.siswa_id).limit(limit + 1)).all()  # type: ignore[arg-type]


def page(session: Session, cursor: Cursor | None, limit: int, nsm: str | None = None,
         scope: frozenset[str] | None = None) -> Sequence[SiswaRow]:
    stmt = select(SiswaRow)
    if nsm is not None:
        stmt = stmt.where(SiswaRow.nsm == nsm)
    if scope is not None:
        stmt = stmt.where(SiswaRow.nsm.in_(sorted(scope)))  # type: ignore[attr-defined]
    stmt = paging.after(stmt, SiswaRow.updated_at, SiswaRow.siswa_id, cursor, limit)  # type: ignore[arg-type]
    return session.exec(stmt).all()


def get(session: Session, siswa_id: str, *, lock: bool = False) -> SiswaRow | None:
    """``lock``: the row is locked until the transaction ends (PostgreSQL; SQLite's write transaction holds the
    database's lock from BEGIN)."""
    return session.get(SiswaRow, siswa_id, with_for_update=lock)


_RECORD = sa.select(SISWA).where(SISWA.c.siswa_id == sa.bindparam("b_siswa_id"))  # built once: no per-call cache key


def get_record(session: Session, siswa_id: str) -> sa.Row[Any] | None:
    """The student's row as a plain row (every column, read by attribute like a ``SiswaRow``: no ORM identity
    map or instance state), or None."""
    return session.execute(_RECORD, {"b_siswa_id": siswa_id}).first()


_RECORDS = sa.select(SISWA).where(SISWA.c.siswa_id.in_(sa.bindparam("b_siswa_ids", expanding=True)))


def get_records(session: Session, siswa_ids: Sequence[str]) -> dict[str, sa.Row[Any]]:
    """``get_record`` of several students in one statement (at most a check's 100 ids): the ones that exist."""
    if not siswa_ids:
        return {}
    return {row.siswa_id: row for row in session.execute(_RECORDS, {"b_siswa_ids": sorted(set(siswa_ids))})}


def lock_hub_values(session: Session, siswa_ids: Sequence[str], fields: Sequence[str],
                    chunk: int = 1000) -> tuple[dict[str, dict[str, FieldValue]], dict[str, str]]:
    """The hub-written values of the students among ``siswa_ids`` that exist, and their madrasah (NSM);
    their rows locked (PostgreSQL) in id order, so that two batches touching the same students wait for
    each other instead of deadlocking or interleaving."""
    columns = [SISWA.c[name] for name in fields]
    values: dict[str, dict[str, FieldValue]] = {}
    nsm_of: dict[str, str] = {}
    unique = sorted(set(siswa_ids))
    for start in range(0, len(unique), chunk):
        part = unique[start:start + chunk]
        stmt = (sa.select(SISWA.c.siswa_id, SISWA.c.nsm, *columns).where(SISWA.c.siswa_id.in_(part))
                .order_by(SISWA.c.siswa_id).with_for_update())
        for row in session.execute(stmt).all():  # fetched at once (row by row costs a driver call each)
            values[row[0]] = dict(zip(fields, row[2:], strict=True))
            nsm_of[row[0]] = row[1]
    return values, nsm_of


def get_many(session: Session, siswa_ids: Sequence[str]) -> dict[str, SiswaRow]:
    """The students among ``siswa_ids`` that exist (one statement per 1000 ids)."""
    out: dict[str, SiswaRow] = {}
    unique = list(dict.fromkeys(siswa_ids))
    for start in range(0, len(unique), 1000):
        stmt = select(SiswaRow).where(SiswaRow.siswa_id.in_(unique[start:start + 1000]))  # type: ignore[attr-defined]
        out.update({row.siswa_id: row for row in session.exec(stmt).all()})
    return out


MANUAL_COLUMNS = ("manual_penerima_pkh", "manual_periode_pkh", "manual_no_kks", "manual_keterangan", "manual_by",
                  "manual_at")


def set_manual(session: Session, siswa_id: str, values: dict[str, object]) -> None:
    """Only the manual_* columns; ``updated_at`` stays (the hub does not read manual data)."""
    assert set(values) <= set(MANUAL_COLUMNS)
    session.execute(sa.update(SISWA).where(SISWA.c.siswa_id == siswa_id).values(**values))
    session.expire_all()


def feed_end(session: Session) -> tuple[Any, str | None, int]:
    """The latest (updated_at, siswa_id) of the feed and how many students it holds."""
    at = session.execute(sa.select(sa.func.max(SiswaRow.updated_at))).scalar()
    if at is None:
        return None, None, 0
    key = session.execute(sa.select(sa.func.max(SiswaRow.siswa_id)).where(SiswaRow.updated_at == at)).scalar()
    return at, key, int(session.execute(sa.select(sa.func.count()).select_from(SiswaRow)).scalar_one())
