"""The console's own reads (all its SQL): students' outcomes with their school and region, match rates by region,
review decisions, students found by id, school, NISN or NIK, and the counts the health page shows."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from services.sync_hub.mirror.models import StudentMirrorRow
from services.sync_hub.provenance.models import OutboxItemRow
from services.sync_hub.replica.models import ReplicaStateRow
from services.sync_hub.review.models import ReviewDecisionRow
from services.sync_hub.runs.models import StudentOutcomeRow, StudentStatusRow, SyncRunRow, SyncUnitRow
from shared.regions import code_range

LINKED = ("PKH_RECIPIENT", "NOT_PKH_RECIPIENT", "LINKED_BY_FALLBACK")  # a family was found for the student


@dataclass(frozen=True)
class OutcomeFilters:
    run_id: str | None = None  # None: each student's current outcome (the run that decided it last)
    system: str | None = None
    province: str | None = None
    kabupaten: str | None = None
    school: str | None = None
    outcome: str | None = None
    key: str | None = None


o = sa.table("student_outcome", sa.column("id"), sa.column("sync_run_id"), sa.column("system"),
             sa.column("student_id"), sa.column("outcome"), sa.column("detail"), sa.column("matched_by"),
             sa.column("no_kk"))
s = sa.table("student_status", sa.column("system"), sa.column("student_id"), sa.column("region"),
             sa.column("outcome"), sa.column("sync_run_id"))
m = sa.table("student_mirror", sa.column("system"), sa.column("student_id"), sa.column("school"),
             sa.column("region"))

COLUMNS = ("system", "student_id", "school", "region", "outcome", "matched_by", "detail", "no_kk", "sync_run_id")


def _base(f: OutcomeFilters, columns: Sequence[Any], rows: bool = False, ignore_outcome: bool = False,
          by_region: bool = False) -> Any:
    """The students the filters keep, joining only the tables a filter (or, with ``rows``, the listing) needs.

    Current outcomes (no run named) are driven by ``student_status`` (one row per student: its region and latest
    outcome), so counts and the chart read one narrow table; one run's by ``student_outcome`` (its unique index
    on run, system, student), with the student's region from ``student_status``. The school comes from the
    hub's copy of the student (``student_mirror``), joined only to filter by school or to list rows."""
    need_o = rows or f.key is not None
    need_m = rows or f.school is not None
    if f.run_id is None:
        system, student, outcome = s.c.system, s.c.student_id, s.c.outcome
        src: Any = s
        if need_o:
            src = src.join(o, sa.and_(o.c.sync_run_id == s.c.sync_run_id, o.c.system == s.c.system,
                                      o.c.student_id == s.c.student_id))
        q = sa.select(*columns)
    else:
        system, student, outcome = o.c.system, o.c.student_id, o.c.outcome
        src = o
        if rows or by_region or f.province or f.kabupaten:
            src = src.outerjoin(s, sa.and_(s.c.system == o.c.system, s.c.student_id == o.c.student_id))
        q = sa.select(*columns).where(o.c.sync_run_id == f.run_id)
    if need_m:
        src = src.outerjoin(m, sa.and_(m.c.system == system, m.c.student_id == student))
    q = q.select_from(src)
    region = s.c.region
    if f.system:
        # a system alone keeps most students: counting them through the (system, region) index costs a table
        # lookup per row, a plain scan is several times faster (``|| ''`` keeps SQLite's planner off that index);
        # with a region, the index is what makes it fast
        by_index = rows or f.province or f.kabupaten
        q = q.where((system if by_index else system.concat("")) == f.system)
    if f.kabupaten:
        q = q.where(code_range(region, f.kabupaten))
    elif f.province:
        q = q.where(code_range(region, f.province))
    if f.school:
        q = q.where(m.c.school == f.school)
    if f.outcome and not ignore_outcome:
        q = q.where(outcome == f.outcome)
    if f.key:
        q = q.where(o.c.matched_by == f.key)
    return q, (system, student), outcome


ROW_COLUMNS = [o.c.system, o.c.student_id, m.c.school, s.c.region.label("region"), o.c.outcome, o.c.matched_by,
               o.c.detail, o.c.no_kk, o.c.sync_run_id]


def outcomes_page(session: Session, f: OutcomeFilters, after: tuple[str, str] | None, limit: int) -> list[Any]:
    """A page of outcomes ordered by (system, student_id), after the keyset ``after``."""
    q, (system, student), _ = _base(f, ROW_COLUMNS, rows=True)
    if after is not None:  # keyset on the driving table's own key: its primary key (or unique index) serves it
        q = q.where(sa.tuple_(system, student) > sa.tuple_(sa.literal(after[0]), sa.literal(after[1])))
    q = q.order_by(system, student).limit(limit)
    return list(session.execute(q).all())


def outcomes_all(session: Session, f: OutcomeFilters, batch: int = 5000) -> Iterator[Any]:
    """Every outcome the filters keep, in pages (for exports)."""
    after: tuple[str, str] | None = None
    while True:
        rows = outcomes_page(session, f, after, batch)
        yield from rows
        if len(rows) < batch:
            return
        after = (rows[-1].system, rows[-1].student_id)


def count_outcomes(session: Session, f: OutcomeFilters) -> int:
    q, _, _ = _base(f, [sa.func.count()])
    return int(session.execute(q).scalar_one())


def rates_by_region(session: Session, f: OutcomeFilters, digits: int) -> list[tuple[str, int, int]]:
    """(region code of ``digits`` digits, students, students linked to a family), over every filter but outcome."""
    _, _, outcome = _base(f, [], ignore_outcome=True)
    code = sa.func.substr(s.c.region, 1, digits).label("code")
    linked = sa.func.sum(sa.case((outcome.in_(LINKED), 1), else_=0))
    q, _, _ = _base(f, [code, sa.func.count(), linked], ignore_outcome=True, by_region=True)
    q = q.group_by(code).order_by(code)
    return [(r[0] or "", int(r[1]), int(r[2] or 0)) for r in session.execute(q).all()]


# ---- review --------------------------------------------------------------------------------------------


def decisions_page(session: Session, limit: int, before: tuple[datetime, str] | None) -> list[ReviewDecisionRow]:
    q = select(ReviewDecisionRow)
    if before is not None:
        q = q.where(sa.tuple_(col(ReviewDecisionRow.decided_at), col(ReviewDecisionRow.id)) < sa.tuple_(
            sa.literal(before[0]), sa.literal(before[1])))
    q = q.order_by(col(ReviewDecisionRow.decided_at).desc(), col(ReviewDecisionRow.id).desc()).limit(limit)
    return list(session.exec(q).all())


# ---- provenance search ---------------------------------------------------------------------------------


def students_by_id(session: Session, system: str | None, student_id: str) -> list[StudentMirrorRow]:
    q = select(StudentMirrorRow).where(StudentMirrorRow.student_id == student_id)
    if system:
        q = q.where(StudentMirrorRow.system == system)
    return list(session.exec(q.limit(20)).all())


def students_of_school(session: Session, system: str | None, school: str, limit: int = 200) -> list[StudentMirrorRow]:
    q = select(StudentMirrorRow).where((StudentMirrorRow.school == school) | (StudentMirrorRow.npsn == school))
    if system:
        q = q.where(StudentMirrorRow.system == system)
    return list(session.exec(q.order_by(StudentMirrorRow.system, StudentMirrorRow.student_id).limit(limit)).all())


def students_by_nisn(session: Session, nisn: str) -> list[StudentMirrorRow]:
    """Students whose record holds this NISN (through its index; one child may be a student of both systems, and
    a NISN typed twice by schools names several records)."""
    q = select(StudentMirrorRow).where(StudentMirrorRow.nisn == nisn)
    return list(session.exec(q.order_by(StudentMirrorRow.system, StudentMirrorRow.student_id).limit(50)).all())


def students_by_nik(session: Session, nik: str) -> list[StudentMirrorRow]:
    """Students whose record names this NIK (the child's or a parent's)."""
    q = select(StudentMirrorRow).where(
        (StudentMirrorRow.nik == nik) | (StudentMirrorRow.nik_ibu == nik) | (StudentMirrorRow.nik_ayah == nik)
        | (StudentMirrorRow.nik_wali == nik))
    return list(session.exec(q.limit(50)).all())


def current_status(session: Session, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], StudentStatusRow]:
    if not keys:
        return {}
    q = select(StudentStatusRow).where(sa.tuple_(col(StudentStatusRow.system), col(StudentStatusRow.student_id))
                                       .in_(list(keys)))
    return {(r.system, r.student_id): r for r in session.exec(q).all()}


def outcome_of(session: Session, run_id: str, system: str, student_id: str) -> StudentOutcomeRow | None:
    return session.exec(select(StudentOutcomeRow).where(
        StudentOutcomeRow.sync_run_id == run_id, StudentOutcomeRow.system == system,
        StudentOutcomeRow.student_id == student_id)).first()


# ---- health --------------------------------------------------------------------------------------------


def replica_state(session: Session) -> ReplicaStateRow | None:
    return session.get(ReplicaStateRow, 1)


def units_by_status(session: Session) -> dict[str, int]:
    q = sa.select(SyncUnitRow.status, sa.func.count()).group_by(SyncUnitRow.status)  # type: ignore[call-overload]
    return {str(k): int(v) for k, v in session.execute(q).all()}


def outbox_by_status(session: Session) -> dict[str, int]:
    q = sa.select(OutboxItemRow.status, sa.func.count()).group_by(OutboxItemRow.status)  # type: ignore[call-overload]
    return {str(k): int(v) for k, v in session.execute(q).all()}


def failed_units(session: Session, limit: int = 20) -> list[SyncUnitRow]:
    q = select(SyncUnitRow).where(SyncUnitRow.status == "FAILED").order_by(
        col(SyncUnitRow.created_at).desc()).limit(limit)
    return list(session.exec(q).all())


def last_run(session: Session) -> SyncRunRow | None:
    return session.exec(select(SyncRunRow).order_by(col(SyncRunRow.created_at).desc()).limit(1)).first()


def procrastinate_jobs(session: Session) -> dict[str, int] | None:
    """Jobs in the PostgreSQL queue by status (``None`` on SQLite: the hub's own threads run the jobs)."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    try:
        with session.begin_nested():
            rows = session.execute(sa.text("SELECT status::text, count(*) FROM procrastinate_jobs GROUP BY 1")).all()
    except sa.exc.DBAPIError:
        return None
    return {str(k): int(v) for k, v in rows}
