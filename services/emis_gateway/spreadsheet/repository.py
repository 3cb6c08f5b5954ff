"""All SQL of import and export: the madrasah's students, bulk inserts and updates."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from services.emis_gateway.siswa.models import RECORD_COLUMNS, SiswaRow
from shared.bulk import executemany

SISWA: sa.Table = SiswaRow.__table__  # type: ignore[assignment]


def records_by_id(session: Session, siswa_ids: Sequence[str], *, lock: bool = False) -> dict[str, dict[str, Any]]:
    """The record columns of the students among ``siswa_ids`` (any madrasah). ``lock`` (an import that will write
    them): their rows are locked until the transaction ends, in id order, the order the hub's results take them in
    (PostgreSQL; SQLite's write transaction holds the database)."""
    out: dict[str, dict[str, Any]] = {}
    unique = sorted(set(siswa_ids))
    columns = [SISWA.c[name] for name in RECORD_COLUMNS]
    for start in range(0, len(unique), 1000):
        stmt = sa.select(*columns).where(SISWA.c.siswa_id.in_(unique[start:start + 1000]))
        if lock:
            stmt = stmt.order_by(SISWA.c.siswa_id).with_for_update()
        for row in session.execute(stmt):
            out[row[0]] = dict(zip(RECORD_COLUMNS, row, strict=True))
    return out


def ids_by_nisn(session: Session, nsm: str) -> dict[str, list[str]]:
    """NISN -> the madrasah's students holding it."""
    out: dict[str, list[str]] = {}
    stmt = sa.select(SISWA.c.nisn, SISWA.c.siswa_id).where(SISWA.c.nsm == nsm, SISWA.c.nisn.is_not(None))
    for nisn, sid in session.execute(stmt):
        out.setdefault(nisn, []).append(sid)
    return out


def insert(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    executemany(session, sa.insert(SISWA), rows)


def update(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    """Each row: ``b_siswa_id`` and the record columns (and ``updated_at``) to set."""
    executemany(session, sa.update(SISWA).where(SISWA.c.siswa_id == sa.bindparam("b_siswa_id")), rows)


def students_of(session: Session, nsm: str) -> Sequence[SiswaRow]:
    return session.exec(select(SiswaRow).where(SiswaRow.nsm == nsm).order_by(col(SiswaRow.siswa_id))).all()
