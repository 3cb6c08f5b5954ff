"""Sync runs: create (queued), execute one at a time in a worker thread, read back."""

from __future__ import annotations

import logging
import uuid
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import Engine
from sqlmodel import Session

from services.sync_hub.runs import repository
from services.sync_hub.runs.models import StudentOutcomeRow, SyncRunRow
from services.sync_hub.sync.engine import SyncEngine
from shared.clock import as_utc, utcnow
from shared.contracts.common import MatchKey, Outcome
from shared.contracts.hub import (
    RunStatus,
    SourceSystem,
    StudentOutcome,
    SyncRun,
    SyncRunCreate,
)
from shared.db import session_scope
from shared.errors import NotFound
from shared.nik import mask

log = logging.getLogger("jembatan.hub.runs")


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
        kip_linked=row.kip_linked, timings=row.timings, errors=[str(e) for e in row.errors],
    )


def outcome_contract(r: StudentOutcomeRow) -> StudentOutcome:
    return StudentOutcome(sync_run_id=r.sync_run_id, system=SourceSystem(r.system), student_id=r.student_id,
                          outcome=Outcome(r.outcome), detail=r.detail, matched_by=MatchKey(r.matched_by),
                          no_kk=mask(r.no_kk) or None)


def get(session: Session, run_id: str) -> SyncRunRow:
    row = repository.get_run(session, run_id)
    if row is None:
        raise NotFound.field("run_id", "exists", f"no sync run {run_id}")
    return row


class RunQueue:
    """Runs execute one at a time, in order, on a worker thread owned by the app's lifespan."""

    def __init__(self, db: Engine, engine: SyncEngine) -> None:
        self.db, self.engine = db, engine
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sync-run")

    def recover(self) -> int:
        """Runs left QUEUED or RUNNING by a previous process are marked FAILED (resume comes later)."""
        with session_scope(self.db) as session:
            rows = repository.runs_in_state(session, [RunStatus.QUEUED.value, RunStatus.RUNNING.value])
            for row in rows:
                row.status, row.finished_at = RunStatus.FAILED.value, utcnow()
                row.errors = [*row.errors, "interrupted: the hub stopped before the run finished"]
            return len(rows)

    def submit(self, body: SyncRunCreate, trigger: str) -> SyncRun:
        row = SyncRunRow(id=str(uuid.uuid4()), status=RunStatus.QUEUED.value, trigger=trigger,
                         systems=[s.value for s in body.systems], full=body.full, created_at=utcnow())
        with session_scope(self.db) as session:
            repository.add_run(session, row)
        self._pool.submit(self.engine.execute, row.id)
        log.info("sync run %s queued by %s", row.id, trigger)
        return to_contract(row)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
