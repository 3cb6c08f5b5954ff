from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlmodel import Session, select

from services.sync_hub.runs.models import StudentOutcomeRow, SyncRunRow
from shared.cursor import Cursor


def add_run(session: Session, row: SyncRunRow) -> None:
    session.add(row)


def get_run(session: Session, run_id: str) -> SyncRunRow | None:
    return session.get(SyncRunRow, run_id)


def list_runs(session: Session, limit: int, before: Cursor | None) -> Sequence[SyncRunRow]:
    query = select(SyncRunRow).order_by(SyncRunRow.created_at.desc(), SyncRunRow.id.desc())  # type: ignore[attr-defined]
    if before is not None:
        query = query.where(sa.tuple_(SyncRunRow.created_at, SyncRunRow.id) < (before.at, before.key))
    return session.exec(query.limit(limit)).all()


def runs_in_state(session: Session, states: Sequence[str]) -> Sequence[SyncRunRow]:
    return session.exec(select(SyncRunRow).where(SyncRunRow.status.in_(states))).all()  # type: ignore[attr-defined]


def insert_outcomes(session: Session, rows: list[dict[str, object]]) -> None:
    """Core executemany (no ORM bulk path: one row of 100,000 costs a few microseconds, not tens)."""
    table = StudentOutcomeRow.__table__  # type: ignore[attr-defined]
    conn = session.connection()
    for start in range(0, len(rows), 5000):
        conn.execute(table.insert(), rows[start : start + 5000])


def list_outcomes(session: Session, run_id: str, limit: int, after_id: int) -> Sequence[StudentOutcomeRow]:
    query = (select(StudentOutcomeRow).where(StudentOutcomeRow.sync_run_id == run_id)
             .where(StudentOutcomeRow.id > after_id).order_by(StudentOutcomeRow.id).limit(limit))  # type: ignore[arg-type,operator]
    return session.exec(query).all()
