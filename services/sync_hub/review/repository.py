"""All SQL of the review queue."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    and_,
    or_,
    select,
    tuple_,
)
from sqlmodel import Session

from services.sync_hub.review.models import ReviewCaseRow, ReviewDecisionRow
from shared.db import one_of

# Above this many students a run reads the (small) table's relevant rows whole and picks its students in
# memory, instead of hundreds of tuple-IN statements: review cases and decisions concern a few students in a
# thousand, while a run names every student it decides.
WHOLE_TABLE_ABOVE = 2_000


def open_cases(session: Session, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], ReviewCaseRow]:
    out: dict[tuple[str, str], ReviewCaseRow] = {}
    if len(keys) > WHOLE_TABLE_ABOVE:
        wanted = set(keys)
        rows = session.scalars(select(ReviewCaseRow).where(ReviewCaseRow.status == "OPEN"))
        return {k: r for r in rows if (k := (r.system, r.student_id)) in wanted}
    for start in range(0, len(keys), 500):
        chunk = list(keys[start : start + 500])
        stmt = select(ReviewCaseRow).where(ReviewCaseRow.status == "OPEN",
                                           tuple_(ReviewCaseRow.system, ReviewCaseRow.student_id).in_(chunk))
        out.update({(r.system, r.student_id): r for r in session.scalars(stmt)})
    return out


def all_open(session: Session) -> list[ReviewCaseRow]:
    return list(session.scalars(select(ReviewCaseRow).where(ReviewCaseRow.status == "OPEN")))


def standing(session: Session, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], ReviewDecisionRow]:
    """The latest decision not reversed, per student."""
    out: dict[tuple[str, str], ReviewDecisionRow] = {}
    base = select(ReviewDecisionRow).where(ReviewDecisionRow.reversed_at.is_(None))
    if len(keys) > WHOLE_TABLE_ABOVE:
        wanted = set(keys)
        for r in session.scalars(base.order_by(ReviewDecisionRow.decided_at)):
            if (k := (r.system, r.student_id)) in wanted:
                out[k] = r
        return out
    by_system: dict[str, list[str]] = {}
    for system, student_id in keys:
        by_system.setdefault(system, []).append(student_id)
    for system, ids in sorted(by_system.items()):  # a student's decisions all fall in one statement
        where, bind = one_of(session, ReviewDecisionRow.student_id, "ids")  # type: ignore[arg-type]
        stmt = base.where(ReviewDecisionRow.system == system, where).order_by(ReviewDecisionRow.decided_at)
        out.update({(r.system, r.student_id): r for r in session.scalars(stmt, {"ids": bind(set(ids))})})
    return out


STANDING_COLUMNS = ("id", "link", "no_kk", "family_version", "student_fingerprint", "candidates_fingerprint",
                    "reviewer", "reason")


def standing_of(session: Session, system: str, student_ids: Sequence[str]) -> dict[str, tuple[Any, ...]]:
    """:func:`standing` for a few students of one system (a check), through the driver in one statement (the
    ORM's statement building and loading cost more than the query): per student id, its latest decision not
    reversed as a ``STANDING_COLUMNS`` tuple (``link`` a bool)."""
    if not student_ids:
        return {}
    postgres = session.get_bind().dialect.name == "postgresql"
    ids = "= ANY(%(ids)s)" if postgres else "IN (SELECT value FROM json_each(?))"
    system_is = "%(system)s" if postgres else "?"
    sql = (f"SELECT student_id, {', '.join(STANDING_COLUMNS)} FROM review_decision WHERE system = {system_is} "
           f"AND student_id {ids} AND reversed_at IS NULL ORDER BY decided_at")
    params: Any = ({"system": system, "ids": list(student_ids)} if postgres
                   else (system, json.dumps(list(student_ids))))
    cursor = session.connection().connection.cursor()
    try:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    finally:
        cursor.close()
    return {r[0]: (r[1], bool(r[2]), *r[3:]) for r in rows}  # the last of a student's rows wins: the latest


def page_cases(session: Session, status: str, after: tuple[datetime, str] | None, limit: int) -> list[ReviewCaseRow]:
    stmt = select(ReviewCaseRow).where(ReviewCaseRow.status == status)
    if after is not None:
        at, case_id = after
        stmt = stmt.where(or_(ReviewCaseRow.created_at > at,
                              and_(ReviewCaseRow.created_at == at, ReviewCaseRow.id > case_id)))
    return list(session.scalars(stmt.order_by(ReviewCaseRow.created_at, ReviewCaseRow.id).limit(limit)))


def get_case(session: Session, case_id: str, lock: bool = False) -> ReviewCaseRow | None:
    stmt = select(ReviewCaseRow).where(ReviewCaseRow.id == case_id)
    if lock:
        stmt = stmt.with_for_update()
    return session.scalars(stmt).first()


def get_decision(session: Session, decision_id: str, lock: bool = False) -> ReviewDecisionRow | None:
    """``lock``: held until the transaction ends (PostgreSQL), so a second reversal waits and then sees the first."""
    return session.get(ReviewDecisionRow, decision_id, with_for_update=lock)


def decisions_for(session: Session, system: str, student_id: str) -> list[ReviewDecisionRow]:
    stmt = (select(ReviewDecisionRow).where(ReviewDecisionRow.system == system,
                                            ReviewDecisionRow.student_id == student_id)
            .order_by(ReviewDecisionRow.decided_at))
    return list(session.scalars(stmt))


def add(session: Session, row: ReviewCaseRow | ReviewDecisionRow) -> None:
    session.add(row)
    session.flush()
