"""Sync runs: create (queued, with its plan job), cancel, read back with the progress of its work units."""

from __future__ import annotations

import logging
import uuid

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import Session

from services.sync_hub.jobs.queue import JobQueue
from services.sync_hub.runs import repository
from services.sync_hub.runs.models import StudentOutcomeRow, SyncRunRow, SyncUnitRow
from shared.clock import as_utc, utcnow
from shared.contracts.common import MatchKey, Outcome
from shared.contracts.hub import (
    ReadProgress,
    RunProgress,
    RunRiskCounts,
    RunStatus,
    SourceSystem,
    StudentOutcome,
    SyncRun,
    SyncRunCreate,
    UnitKind,
    UnitProgress,
    UnitStatus,
)
from shared.db import SQLITE_IMMEDIATE, session_scope
from shared.errors import Conflict, NotFound
from shared.nik import mask

log = logging.getLogger("jembatan.hub.runs")
TERMINAL = {UnitStatus.SUCCEEDED.value, UnitStatus.FAILED.value, UnitStatus.CANCELLED.value}


def to_contract(row: SyncRunRow) -> SyncRun:
    return SyncRun(
        id=row.id, status=RunStatus(row.status), trigger=row.trigger, systems=row.systems,  # type: ignore[arg-type]
        student_ids=row.student_ids,
        created_at=as_utc(row.created_at),
        started_at=as_utc(row.started_at) if row.started_at else None,
        finished_at=as_utc(row.finished_at) if row.finished_at else None,
        students_read=row.students_read, students_from_feed=row.students_from_feed,
        students_removed=row.students_removed, full=row.full, outcomes=row.outcomes, values_written=row.values_written,
        values_unchanged=row.values_unchanged, provenance_records=row.provenance_records,
        kip_linked=row.kip_linked, timings=row.timings, errors=[str(e) for e in row.errors], stale=row.stale,
        periode=row.periode, verifications=row.verifications or {},
        at_risk=RunRiskCounts.model_validate(row.at_risk) if row.at_risk else None,
    )


def outcome_contract(r: StudentOutcomeRow) -> StudentOutcome:
    return StudentOutcome(sync_run_id=r.sync_run_id, system=SourceSystem(r.system), student_id=r.student_id,
                          outcome=Outcome(r.outcome), detail=r.detail, matched_by=MatchKey(r.matched_by),
                          no_kk=mask(r.no_kk) or None)


def with_progress(session: Session, row: SyncRunRow) -> SyncRun:
    """The run with the progress of its units (once planned)."""
    run = to_contract(row)
    if row.planned_at is None:
        if row.status == RunStatus.RUNNING.value:
            ranges = repository.read_ranges(session, row.id, row.started_at)
            run.reading = [ReadProgress(source=r.source, records=r.records, done=r.done,
                                        updated_at=as_utc(r.updated_at), ranges=ranges.get(r.source, (None,))[0],
                                        ranges_done=ranges.get(r.source, (None, None))[1])
                           for r in repository.reading(session, row.id)]
        return run
    counts = repository.unit_counts(session, row.id)
    decide = {status: v for (kind, status), v in counts.items() if kind == UnitKind.DECIDE.value}
    verify = {status: v for (kind, status), v in counts.items() if kind == UnitKind.VERIFY.value}

    def n(status: UnitStatus) -> int:
        return decide.get(status.value, (0, 0))[0]

    run.progress = RunProgress(
        units_total=sum(c for c, _ in decide.values()), units_done=n(UnitStatus.SUCCEEDED),
        units_failed=n(UnitStatus.FAILED), units_waiting=n(UnitStatus.WAITING), units_running=n(UnitStatus.RUNNING),
        units_cancelled=n(UnitStatus.CANCELLED),
        students_done=sum(s for st, (_, s) in decide.items() if st in TERMINAL),
        verification_units_total=sum(c for c, _ in verify.values()),
        verification_units_done=sum(c for st, (c, _) in verify.items() if st in TERMINAL),
        children_verified=sum(s for st, (_, s) in verify.items() if st in TERMINAL))
    return run


def unit_contract(u: SyncUnitRow) -> UnitProgress:
    kind = UnitKind(u.kind)
    return UnitProgress(id=u.id, kind=kind, system=SourceSystem(u.system) if kind is UnitKind.DECIDE else None,
                        region=u.region, status=UnitStatus(u.status),
                        attempts=u.attempts, students=u.students, outcomes=u.outcomes,
                        values_written=u.values_written, stale=u.stale, errors=[str(e) for e in u.errors],
                        started_at=as_utc(u.started_at) if u.started_at else None,
                        finished_at=as_utc(u.finished_at) if u.finished_at else None)


def get(session: Session, run_id: str) -> SyncRunRow:
    row = repository.get_run(session, run_id)
    if row is None:
        raise NotFound.field("run_id", "exists", "no sync run with this id")
    return row


class RunQueue:
    """Sync runs: created with their plan job in one transaction; planned into units by a job; ended by the last
    unit (``services.sync_hub.jobs``). At most one run is queued or running at a time."""

    def __init__(self, db: Engine, jobs: JobQueue) -> None:
        self.db, self.jobs = db, jobs

    def submit(self, body: SyncRunCreate, trigger: str) -> SyncRun:
        """Queue a run; a run already queued or running is a 409 naming it (a second run would read the same
        changes: ask again when it has ended, or cancel it)."""
        row = SyncRunRow(id=str(uuid.uuid4()), status=RunStatus.QUEUED.value, trigger=trigger,
                         systems=[s.value for s in body.systems], full=body.full, periode=body.periode,
                         created_at=utcnow())
        with session_scope(self.db) as session:
            session.connection(execution_options={SQLITE_IMMEDIATE: True})
            if self.db.dialect.name == "postgresql":  # one submitter at a time decides "is one running?"
                session.execute(sa.text("SELECT pg_advisory_xact_lock(7304501)"))
            active = repository.active_run(session)
            if active is not None:
                raise Conflict.field("run_id", "one_run_at_a_time", f"sync run {active.id} is "
                                     f"{active.status.lower()}; wait for it to end or cancel it")
            repository.add_run(session, row)
            session.flush()
            self.jobs.defer_plan(session, row.id)
        log.info("sync run %s queued by %s", row.id, trigger)
        return to_contract(row)

    def cancel(self, run_id: str, by: str) -> SyncRun:
        """Units not started end CANCELLED; a unit running stops before its next batch; the run ends when its
        units have."""
        with session_scope(self.db) as session:
            session.connection(execution_options={SQLITE_IMMEDIATE: True})
            row = repository.get_run(session, run_id, lock=True)
            if row is None:
                raise NotFound.field("run_id", "exists", "no sync run with this id")
            if row.status not in (RunStatus.QUEUED.value, RunStatus.RUNNING.value):
                raise Conflict.field("run_id", "still_running", f"the sync run has already ended ({row.status})")
            row.cancel_requested = True
            units = repository.units_of(session, run_id)
            now = utcnow()
            for unit in units:
                if unit.status == UnitStatus.WAITING.value:
                    unit.status, unit.finished_at = UnitStatus.CANCELLED.value, now
            if row.planned_at is None and row.status == RunStatus.QUEUED.value:
                row.status, row.finished_at = RunStatus.CANCELLED.value, now
            elif row.planned_at is not None and all(u.status in TERMINAL for u in units):
                repository.close_run(row, units)
            row.errors = [*row.errors, f"cancelled by {by}"][:50]
        log.info("sync run %s: cancel asked by %s", run_id, by)
        with session_scope(self.db) as session:
            return with_progress(session, get(session, run_id))

    def shutdown(self) -> None:
        self.jobs.shutdown()
