"""All SQL on ``peserta_didik``."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from services.dapodik_gateway import db, paging
from services.dapodik_gateway.kehadiran.models import KehadiranPdRow
from services.dapodik_gateway.peserta_didik.models import PesertaDidikRow
from services.dapodik_gateway.results import repository as results_repository
from services.dapodik_gateway.validasi import repository as validasi_repository
from shared.cursor import Cursor
from shared.db import apart, built_once, together
from shared.inbound import FieldValue
from shared.kehadiran import each_student_part

PESERTA_DIDIK: sa.Table = PesertaDidikRow.__table__  # type: ignore[assignment]
IN_CHUNK = 1000


def read_model_part_list() -> list[tuple[sa.Select, tuple[str, ...]]]:  # type: ignore[type-arg]
    """The parts ``read_model_parts`` reads together (the student ids bound as ``ids``): for a caller that reads
    them with more (``shared.db.together``)."""
    return [results_repository.latest_provenance_part(),
            each_student_part(KehadiranPdRow.__table__, "peserta_didik_id"), validasi_repository.findings_part()]


def _read_model_parts() -> sa.Select:  # type: ignore[type-arg]
    return together(*read_model_part_list())


def read_model_parts(session: Session, ids: Sequence[str]
                     ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """PostgreSQL only: what ``results.repository.latest_provenance``, ``kehadiran.repository.of_students`` and
    ``validasi.repository.findings`` read for these students, in one statement (``shared.db.together``: one round
    trip and one execution instead of three, for a press's record): the provenance rows, the months and the
    findings, each in its own statement's order, each row by column name."""
    stmt = built_once("dapodik.read_model_parts", _read_model_parts)
    provenance, months, found = apart(stmt, session.execute(stmt, {"ids": json.dumps(sorted(set(ids)))}).all())
    return provenance, months, found


def list_after(session: Session, cursor: Cursor | None, limit: int, sekolah_id: str | None = None, *,
               below_status: int | None = None) -> list[sa.RowMapping]:
    """Active students after ``cursor`` in (last_update, id) order, as plain rows (no ORM objects: a page
    of 1,000 is read in one statement and mapped straight to the contract). ``below_status``: only those
    validated with a worst finding below it (not validated yet: left out)."""
    stmt = sa.select(PESERTA_DIDIK).where(PESERTA_DIDIK.c.soft_delete.is_(False))
    if sekolah_id is not None:
        stmt = stmt.where(PESERTA_DIDIK.c.sekolah_id == sekolah_id)
    if below_status is not None:
        stmt = stmt.where(PESERTA_DIDIK.c.status_validasi < below_status)
    stmt = paging.after(stmt, PESERTA_DIDIK.c.last_update, PESERTA_DIDIK.c.peserta_didik_id, cursor, limit)
    return list(session.execute(stmt).mappings().all())


def feed_after(session: Session, cursor: paging.SeqCursor | None, limit: int, sekolah_id: str | None
               ) -> list[sa.RowMapping]:
    """Active validated students (held back or not), after ``cursor`` in (change_seq, id) order."""
    stmt = sa.select(PESERTA_DIDIK).where(PESERTA_DIDIK.c.soft_delete.is_(False),
                                          PESERTA_DIDIK.c.status_validasi.is_not(None))
    if sekolah_id is not None:
        stmt = stmt.where(PESERTA_DIDIK.c.sekolah_id == sekolah_id)
    stmt = paging.after_seq(stmt, PESERTA_DIDIK.c.change_seq, PESERTA_DIDIK.c.peserta_didik_id, cursor, limit)
    return list(session.execute(stmt).mappings().all())


def feed_range_after(session: Session, after_id: str | None, limit: int, sekolah_id: str | None,
                     id_after: str | None, id_upto: str | None) -> list[sa.RowMapping]:
    """Active validated students (held back or not) of the id range, after ``after_id`` in id order: a range of a
    whole read walks the primary key over its own ids only (in change order each range would scan the whole feed's
    index, fetching every row to test its id)."""
    low = max((v for v in (after_id, id_after) if v is not None), default=None)
    stmt = sa.select(PESERTA_DIDIK).where(PESERTA_DIDIK.c.soft_delete.is_(False),
                                          PESERTA_DIDIK.c.status_validasi.is_not(None))
    if low is not None:
        stmt = stmt.where(PESERTA_DIDIK.c.peserta_didik_id > low)
    if id_upto is not None:
        stmt = stmt.where(PESERTA_DIDIK.c.peserta_didik_id <= id_upto)
    if sekolah_id is not None:
        stmt = stmt.where(PESERTA_DIDIK.c.sekolah_id == sekolah_id)
    stmt = stmt.order_by(PESERTA_DIDIK.c.peserta_didik_id).limit(limit + 1)
    return list(session.execute(stmt).mappings().all())


def record(session: Session, peserta_didik_id: str) -> sa.RowMapping | None:
    """One active student as a plain row."""
    stmt = sa.select(PESERTA_DIDIK).where(PESERTA_DIDIK.c.peserta_didik_id == peserta_didik_id,
                                         PESERTA_DIDIK.c.soft_delete.is_(False))
    return session.execute(stmt).mappings().first()


def get(session: Session, peserta_didik_id: str, *, for_update: bool = False) -> PesertaDidikRow | None:
    """An active student; ``for_update`` locks the row (PostgreSQL) so concurrent batches queue on it."""
    stmt = select(PesertaDidikRow).where(PesertaDidikRow.peserta_didik_id == peserta_didik_id,
                                         col(PesertaDidikRow.soft_delete).is_(False))
    if for_update:
        stmt = stmt.with_for_update()
    return session.exec(stmt).first()


def lock(session: Session, peserta_didik_ids: Sequence[str]) -> None:
    """Lock the students' rows until the transaction ends, in id order (PostgreSQL; on SQLite the write
    transaction holds the database): the order every writer takes student rows in (README, *Locks*)."""
    ids = sorted(set(peserta_didik_ids))
    for i in range(0, len(ids), IN_CHUNK):
        stmt = (sa.select(PESERTA_DIDIK.c.peserta_didik_id)
                .where(PESERTA_DIDIK.c.peserta_didik_id.in_(ids[i:i + IN_CHUNK]))
                .order_by(PESERTA_DIDIK.c.peserta_didik_id).with_for_update())
        session.execute(stmt).all()


def lock_all(conn: sa.Connection) -> None:
    """Every student row at once, for a load (which may touch any of them): on PostgreSQL the table is locked
    against other writers (``EXCLUSIVE``: plain reads go on, row locks wait); SQLite's write transaction holds
    the database already."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"LOCK TABLE {PESERTA_DIDIK.name} IN EXCLUSIVE MODE")


def lock_hub_values(session: Session, peserta_didik_ids: Sequence[str], fields: Sequence[str]
                    ) -> dict[str, tuple[str, dict[str, FieldValue]]]:
    """peserta_didik_id -> (sekolah_id, the given fields' values) of the active students among the ids,
    their rows locked until the transaction ends (PostgreSQL; on SQLite the write transaction holds the
    database). Locked in id order, so two batches over the same students cannot deadlock."""
    cols = [PESERTA_DIDIK.c[name] for name in fields]
    ids = sorted(set(peserta_didik_ids))
    out: dict[str, tuple[str, dict[str, FieldValue]]] = {}
    for i in range(0, len(ids), IN_CHUNK):
        stmt = (sa.select(PESERTA_DIDIK.c.peserta_didik_id, PESERTA_DIDIK.c.sekolah_id, *cols)
                .where(PESERTA_DIDIK.c.peserta_didik_id.in_(ids[i:i + IN_CHUNK]),
                       PESERTA_DIDIK.c.soft_delete.is_(False))
                .order_by(PESERTA_DIDIK.c.peserta_didik_id).with_for_update())
        for row in session.execute(stmt).all():
            out[row[0]] = (row[1], {name: row[2 + k] for k, name in enumerate(fields)})
    return out


def set_hub_values(session: Session, values: Mapping[str, Mapping[str, FieldValue]], fields: Sequence[str],
                   at: datetime) -> None:
    """Set every given field of each student (``values``: id -> field -> value) and ``last_sync``, in one
    statement (``db.bulk_update``: on PostgreSQL one UPDATE for all of them; the rows are locked already, by
    ``lock_hub_values``); ``last_update`` stays (a hub write is not a record change)."""
    if not values:
        return
    db.bulk_update(session.connection(), PESERTA_DIDIK, "peserta_didik_id", [
        {"peserta_didik_id": pid, **{name: v[name] for name in fields}} for pid, v in values.items()],
        {"last_sync": at})


def write_hub_values(session: Session, row: PesertaDidikRow, changes: dict[str, FieldValue], at: datetime) -> None:
    """Set hub-written values and ``last_sync`` on one loaded row (ORM path)."""
    for name, value in changes.items():
        setattr(row, name, value)
    row.last_sync = at
    session.add(row)
    session.flush()


def mark_changed(session: Session, peserta_didik_ids: Sequence[str], at: datetime, seq: int) -> None:
    """The records changed (not by the hub): ``last_update`` and the change sequence move, so the hub's feed
    offers them again."""
    stmt = (sa.update(PESERTA_DIDIK).where(PESERTA_DIDIK.c.peserta_didik_id == sa.bindparam("b_id"))
            .values(last_update=sa.bindparam("b_at"), change_seq=sa.bindparam("b_seq")))
    db.executemany(session.connection(), stmt, [{"b_id": pid, "b_at": at, "b_seq": seq} for pid in peserta_didik_ids])
