from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, select

from services.sync_hub.replica.models import ReplicaLoadRangeRow, ReplicaLoadRow
from services.sync_hub.runs.models import (
    FeedReadRangeRow,
    FeedReadRow,
    RunReadingRow,
    StudentOutcomeRow,
    StudentStatusRow,
    SyncRunRow,
    SyncUnitRow,
)
from shared import bulk
from shared.clock import as_utc, utcnow
from shared.cursor import Cursor
from shared.db import Growing, one_of


def add_run(session: Session, row: SyncRunRow) -> None:
    session.add(row)


def get_run(session: Session, run_id: str, lock: bool = False) -> SyncRunRow | None:
    if lock:
        return session.exec(select(SyncRunRow).where(SyncRunRow.id == run_id).with_for_update()).first()
    return session.get(SyncRunRow, run_id)


def list_runs(session: Session, limit: int, before: Cursor | None) -> Sequence[SyncRunRow]:
    query = select(SyncRunRow).order_by(SyncRunRow.created_at.desc(), SyncRunRow.id.desc())  # type: ignore[attr-defined]
    if before is not None:
        query = query.where(sa.tuple_(SyncRunRow.created_at, SyncRunRow.id) < (before.at, before.key))
    return session.exec(query.limit(limit)).all()


def runs_in_state(session: Session, states: Sequence[str]) -> Sequence[SyncRunRow]:
    return session.exec(select(SyncRunRow).where(SyncRunRow.status.in_(states))).all()  # type: ignore[attr-defined]


def insert_outcomes(session: Session, rows: list[dict[str, object]]) -> None:
    """Set-wise, without SQLAlchemy's per-row parameter processing (``shared.bulk.insert``: COPY on PostgreSQL)."""
    bulk.insert(session, StudentOutcomeRow.__table__, rows)  # type: ignore[attr-defined]


def list_outcomes(session: Session, run_id: str, limit: int, after_id: int) -> Sequence[StudentOutcomeRow]:
    query = (select(StudentOutcomeRow).where(StudentOutcomeRow.sync_run_id == run_id)
             .where(StudentOutcomeRow.id > after_id).order_by(StudentOutcomeRow.id).limit(limit))  # type: ignore[arg-type,operator]
    return session.exec(query).all()


def get_unit(session: Session, unit_id: str, lock: bool = False) -> SyncUnitRow | None:
    stmt = select(SyncUnitRow).where(SyncUnitRow.id == unit_id)
    return session.exec(stmt.with_for_update() if lock else stmt).first()


def units_of(session: Session, run_id: str) -> Sequence[SyncUnitRow]:
    stmt = select(SyncUnitRow).where(SyncUnitRow.sync_run_id == run_id)
    return session.exec(stmt.order_by(SyncUnitRow.system, SyncUnitRow.region)).all()  # type: ignore[arg-type]


def active_run(session: Session) -> SyncRunRow | None:
    """The sync run queued or running, if any (checks are not runs)."""
    stmt = select(SyncRunRow).where(SyncRunRow.status.in_(["QUEUED", "RUNNING"]))  # type: ignore[attr-defined]
    return next((r for r in session.exec(stmt.order_by(SyncRunRow.created_at)) if not r.student_ids), None)  # type: ignore[arg-type]


def previous_planned(session: Session, run_id: str) -> SyncRunRow | None:
    """The latest run planned before ``run_id`` (its registry sequence is where this run looks from)."""
    stmt = (select(SyncRunRow).where(SyncRunRow.planned_at.is_not(None), SyncRunRow.id != run_id)  # type: ignore[union-attr]
            .order_by(SyncRunRow.planned_at.desc()).limit(1))  # type: ignore[union-attr]
    return session.exec(stmt).first()


def unfinished_units(session: Session, run_id: str) -> Sequence[SyncUnitRow]:
    """Units of ``run_id`` that did not succeed (failed, cancelled): the next run plans their regions again."""
    stmt = select(SyncUnitRow).where(SyncUnitRow.sync_run_id == run_id, SyncUnitRow.kind == "decide",
                                     SyncUnitRow.status != "SUCCEEDED")
    return session.exec(stmt).all()


def verified_through(session: Session, run_id: str, periode: str) -> datetime | None:
    """When the latest other run that verified ``periode`` in full planned its verification: every student
    decided before it was considered then (none: no run did)."""
    failed = (sa.select(SyncUnitRow.id).where(SyncUnitRow.sync_run_id == SyncRunRow.id, SyncUnitRow.kind == "verify",
                                              SyncUnitRow.status != "SUCCEEDED").exists())
    stmt = (sa.select(SyncRunRow.verify_planned_at)
            .where(SyncRunRow.id != run_id, SyncRunRow.periode == periode, SyncRunRow.verify_planned_at.is_not(None),
                   ~failed)
            .order_by(SyncRunRow.verify_planned_at.desc()).limit(1))
    return session.execute(stmt).scalar()


# The record step's tables, filled by every unit of a first sync and read by the next unit's delete (``one_of``): on
# statistics taken while they were small PostgreSQL read the delete through ``sync_run_id`` (or ``system``) alone,
# filtering every row the run had written so far against the unit's ids, 100 ms per unit at 20,000 students and
# quadratic in a run's students (docs/benchmarks.md, session 13). Kept in step as they grow.
GROWING = {"student_outcome": Growing("student_outcome", ("sync_run_id", "system", "student_id")),
           "student_status": Growing("student_status", ("system", "student_id"))}


def replace_outcomes(session: Session, run_id: str, system: str, rows: list[dict[str, object]]) -> None:
    """A unit's outcomes in its run (those of an earlier attempt replaced)."""
    if rows:
        names = list(rows[0])
        replace_outcome_columns(session, run_id, system, names, [[r[n] for r in rows] for n in names])


def replace_outcome_columns(session: Session, run_id: str, system: str, names: Sequence[str],
                            columns: Sequence[Sequence[object]]) -> None:
    """``replace_outcomes`` of rows given a column at a time (``shared.bulk.insert_columns``: no dict per row)."""
    table = StudentOutcomeRow.__table__  # type: ignore[attr-defined]
    ids = [str(i) for i in columns[names.index("student_id")]]
    where, bind = one_of(session, table.c.student_id, "ids")  # an index seek per id, whatever the statistics
    stmt = table.delete().where(table.c.sync_run_id == run_id, table.c.system == system, where)
    for start in range(0, len(ids), 1000):
        session.execute(stmt, {"ids": bind(ids[start:start + 1000])})
    bulk.insert_columns(session, table, names, columns)
    GROWING["student_outcome"].added(session, len(ids))


def upsert_status(session: Session, rows: list[dict[str, object]]) -> None:
    if rows:
        names = list(rows[0])
        upsert_status_columns(session, names, [[r[n] for r in rows] for n in names])


def upsert_status_columns(session: Session, names: Sequence[str], columns: Sequence[Sequence[object]]) -> None:
    """Each student's current status (its row replaced), the rows given a column at a time, all of one system."""
    table = StudentStatusRow.__table__  # type: ignore[attr-defined]
    if not columns or not len(columns[0]):
        return
    system = columns[names.index("system")][0]
    ids = [str(i) for i in columns[names.index("student_id")]]
    # the ids bound as one array: an IN list of 1,000 was planned from the statistics, and a table analyzed while
    # it was small (a first sync) was read whole for every unit's delete
    where, bind = one_of(session, table.c.student_id, "ids")
    stmt = table.delete().where(table.c.system == system, where)
    for start in range(0, len(ids), 1000):
        session.execute(stmt, {"ids": bind(ids[start:start + 1000])})
    bulk.insert_columns(session, table, names, columns)
    GROWING["student_status"].added(session, len(ids))


def unit_counts(session: Session, run_id: str) -> dict[tuple[str, str], tuple[int, int]]:
    """Per unit kind and status: (units, students decided or children verified)."""
    stmt = (sa.select(SyncUnitRow.kind, SyncUnitRow.status, sa.func.count(),
                      sa.func.coalesce(sa.func.sum(SyncUnitRow.students), 0))
            .where(SyncUnitRow.sync_run_id == run_id).group_by(SyncUnitRow.kind, SyncUnitRow.status))
    return {(r[0], r[1]): (int(r[2]), int(r[3])) for r in session.execute(stmt)}


def start_reading(session: Session, run_id: str, sources: Sequence[str], at: datetime) -> None:
    """A plan (or a new attempt of it) starts reading these upstreams: their counts start from 0."""
    session.execute(sa.delete(RunReadingRow).where(RunReadingRow.sync_run_id == run_id))
    session.add_all(RunReadingRow(sync_run_id=run_id, source=s, records=0, done=False, updated_at=at) for s in sources)
    session.flush()


def add_read(session: Session, run_id: str, source: str, records: int, at: datetime, *, done: bool = False) -> None:
    """``records`` more read from ``source`` (in the transaction that stores them); ``done``: its read has ended."""
    values: dict[str, object] = {"records": RunReadingRow.records + records, "updated_at": at}
    if done:
        values["done"] = True
    session.execute(sa.update(RunReadingRow).where(RunReadingRow.sync_run_id == run_id,
                                                   RunReadingRow.source == source).values(**values))


def add_registry_read(session: Session, changes: int) -> None:
    """``changes`` applied to the registry replica (in the transaction of the page that applied them), counted in
    the ``registry`` reading of every run whose plan is reading: whoever applies the page, the plan's own round or
    the replica follower (which holds the lease first, e.g. during a first load)."""
    planning = sa.select(SyncRunRow.id).where(SyncRunRow.status == "RUNNING", SyncRunRow.planned_at.is_(None))
    session.execute(sa.update(RunReadingRow).where(
        RunReadingRow.source == "registry", RunReadingRow.done.is_(False), RunReadingRow.sync_run_id.in_(planning)
    ).values(records=RunReadingRow.records + changes, updated_at=utcnow()))


def reading(session: Session, run_id: str) -> Sequence[RunReadingRow]:
    return session.scalars(select(RunReadingRow).where(RunReadingRow.sync_run_id == run_id)
                           .order_by(RunReadingRow.source)).all()


def read_ranges(session: Session, run_id: str, started_at: datetime | None) -> dict[str, tuple[int, int]]:
    """(ranges, ranges read) per upstream a run's plan reads as ranges: each feed it reads whole as ranges
    (``sync.feed_ranges``), and the registry replica's first load (``replica.ranged``) while it is read or when it
    ended after the run started (the API's follower may have started it before)."""
    out: dict[str, tuple[int, int]] = {}
    done = sa.func.count(FeedReadRangeRow.done_at)
    feeds = (select(FeedReadRow.system, FeedReadRow.ranges, done)
             .join(FeedReadRangeRow, FeedReadRangeRow.read_id == FeedReadRow.id)
             .where(FeedReadRow.sync_run_id == run_id)
             .group_by(FeedReadRow.id, FeedReadRow.system, FeedReadRow.ranges).order_by(FeedReadRow.id))
    for system, ranges, read in session.execute(feeds):
        out[system] = (ranges, read)  # the latest read of each system (a retry goes on with the same one)
    load = session.scalars(select(ReplicaLoadRow).order_by(ReplicaLoadRow.id.desc()).limit(1)).first()  # type: ignore[union-attr]
    if load is not None and (load.finished_at is None or (started_at is not None
                                                   and as_utc(load.finished_at) >= as_utc(started_at))):
        read = session.execute(select(sa.func.count(ReplicaLoadRangeRow.done_at))
                               .where(ReplicaLoadRangeRow.load_id == load.id)).scalar_one()
        out["registry"] = (load.ranges, int(read))
    return out


def close_run(run: SyncRunRow, units: Sequence[SyncUnitRow]) -> None:
    """The run ends with the sum of its units: SUCCEEDED when every unit did, CANCELLED when asked, else FAILED."""
    from collections import Counter

    outcomes: Counter[str] = Counter()
    verified: Counter[str] = Counter()
    statuses = {u.status for u in units}
    verifying = [u for u in units if u.kind == "verify"]
    for u in verifying:
        verified.update(u.outcomes)
    run.verifications = dict(sorted(verified.items()))
    units = [u for u in units if u.kind != "verify"]
    for u in units:
        outcomes.update(u.outcomes)
    if run.cancel_requested and statuses - {"SUCCEEDED"}:
        run.status = "CANCELLED"
    elif statuses <= {"SUCCEEDED"}:
        run.status = "SUCCEEDED"
    else:
        run.status = "FAILED"
    run.finished_at = utcnow()
    run.students_read = sum(u.students for u in units)
    run.outcomes = dict(sorted(outcomes.items()))
    run.values_written = sum(u.values_written for u in units)
    run.values_unchanged = sum(u.values_unchanged for u in units)
    run.provenance_records = sum(u.provenance_records for u in units)
    run.kip_linked = sum(u.kip_linked for u in units)
    run.stale = sum(u.stale for u in units)
    timings = dict(run.timings)
    for u in units:
        for k, v in u.timings.items():
            if isinstance(v, int | float):
                timings[f"units.{k}"] = round(timings.get(f"units.{k}", 0.0) + v, 3)
    for u in verifying:
        for k, v in u.timings.items():
            timings[f"verify.{k}"] = round(timings.get(f"verify.{k}", 0.0) + v, 3)
    if run.verify_planned_at is not None and verifying:
        timings["verify.wall"] = round((run.finished_at - as_utc(run.verify_planned_at)).total_seconds(), 3)
    run.timings = timings
    failed = [f"unit {u.system} {u.region}: {e}" for u in units if u.status == "FAILED" for e in u.errors[-1:]]
    failed += [f"verification {u.region}: {e}" for u in verifying if u.status == "FAILED" for e in u.errors[-1:]]
    run.errors = [*run.errors, *failed][:50]


def units_by_id(session: Session, unit_ids: list[str]) -> Sequence[SyncUnitRow]:
    return session.exec(select(SyncUnitRow).where(SyncUnitRow.id.in_(unit_ids))).all()  # type: ignore[attr-defined]
