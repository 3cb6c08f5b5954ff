"""A work unit's life: started (one more attempt), waiting for another attempt, failed, ended; and what follows
the last unit of a run: its verification units (``sync/verify.py``), then its end."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session

from services.sync_hub.domain.students import StudentView
from services.sync_hub.jobs.context import JobContext
from services.sync_hub.matching.service import LINKED, MatchDecision
from services.sync_hub.risk import build as risk_build
from services.sync_hub.runs import repository as runs_repo
from services.sync_hub.runs.models import SyncRunRow, SyncUnitRow
from services.sync_hub.verification import repository as verification
from shared.clock import utcnow
from shared.contracts.hub import RunStatus, SourceSystem, UnitStatus
from shared.db import SQLITE_IMMEDIATE, session_scope
from shared.errors import scrub

log = logging.getLogger("jembatan.hub.lifecycle")
TERMINAL = {UnitStatus.SUCCEEDED.value, UnitStatus.FAILED.value, UnitStatus.CANCELLED.value}


def begin(db: Engine, unit_id: str) -> tuple[SyncUnitRow, SyncRunRow] | None:
    """Mark the unit RUNNING (one more attempt); None when there is nothing to do (finished, or cancelled)."""
    with session_scope(db) as session:
        session.connection(execution_options={SQLITE_IMMEDIATE: True})
        unit = runs_repo.get_unit(session, unit_id, lock=True)
        if unit is None or unit.status in TERMINAL:
            return None
        run = runs_repo.get_run(session, unit.sync_run_id)
        assert run is not None
        if run.cancel_requested:
            unit.status, unit.finished_at = UnitStatus.CANCELLED.value, utcnow()
            return None
        unit.status, unit.attempts = UnitStatus.RUNNING.value, unit.attempts + 1
        unit.started_at = unit.started_at or utcnow()
        return unit, run


def record(session: Session, run_id: str, system: SourceSystem, students: Sequence[StudentView],
           decisions: Sequence[MatchDecision], regions: dict[str, str], now: datetime) -> None:
    """A unit's students as decided, in the transaction that ends the unit: their outcomes in the run (an
    earlier attempt's replaced) and their current status (``student_status``: region, outcome, family, the
    child's registry NIK when linked)."""
    n, target = len(students), system.value
    if len(decisions) != n:
        raise ValueError(f"{n} students, {len(decisions)} decisions")
    ids = [s.student_id for s in students]
    outcomes = [d.outcome.value for d in decisions]
    kk = [d.family.no_kk if d.family else None for d in decisions]
    runs, systems = [run_id] * n, [target] * n
    runs_repo.replace_outcome_columns(session, run_id, target, OUTCOME_COLUMNS, [
        runs, systems, ids, outcomes, [(d.detail or "")[:300] or None for d in decisions],
        [d.matched_by.value for d in decisions], kk])
    runs_repo.upsert_status_columns(session, STATUS_COLUMNS, [
        systems, ids, [regions.get(i, "") for i in ids], outcomes, kk,
        [d.person_nik if d.outcome in LINKED else None for d in decisions], runs, [now] * n])


OUTCOME_COLUMNS = ("sync_run_id", "system", "student_id", "outcome", "detail", "matched_by", "no_kk")
STATUS_COLUMNS = ("system", "student_id", "region", "outcome", "no_kk", "child_nik", "sync_run_id", "updated_at")


def fail(ctx: JobContext, unit_id: str, error: str) -> None:
    """The unit ends FAILED with ``error`` (an internal error, or the last attempt could not reach an upstream)."""
    with session_scope(ctx.db) as session:
        session.connection(execution_options={SQLITE_IMMEDIATE: True})
        unit = runs_repo.get_unit(session, unit_id, lock=True)
        if unit is None or unit.status in TERMINAL:
            return
        unit.status, unit.finished_at = UnitStatus.FAILED.value, utcnow()
        unit.errors = [*unit.errors, scrub(error)[:300]][-20:]  # (an exception's text may hold a NIK)
    finish_run_if_done(ctx, unit_id)


def retry_later(db: Engine, unit_id: str, error: str) -> None:
    """An upstream could not be reached: the unit waits for its next attempt, saying why."""
    with session_scope(db) as session:
        session.connection(execution_options={SQLITE_IMMEDIATE: True})
        unit = runs_repo.get_unit(session, unit_id, lock=True)
        if unit is not None and unit.status not in TERMINAL:
            unit.status = UnitStatus.WAITING.value
            unit.errors = [*unit.errors, scrub(f"attempt {unit.attempts}: {error}")[:300]][-20:]


def finish_run_if_done(ctx: JobContext, unit_id: str) -> None:
    """When every unit of the unit's run has ended, the run moves on: once its deciding units have ended, its
    verification units are planned (``verify.plan``), and when there are none left the run ends, its counts the
    sum of its units'."""
    with session_scope(ctx.db) as session:
        session.connection(execution_options={SQLITE_IMMEDIATE: True})
        unit = runs_repo.get_unit(session, unit_id)
        if unit is None:
            return
        run = runs_repo.get_run(session, unit.sync_run_id, lock=True)
        if run is None or run.status not in (RunStatus.QUEUED.value, RunStatus.RUNNING.value):
            return
        units = runs_repo.units_of(session, run.id)
        if any(u.status not in TERMINAL for u in units):
            return
        move_on(ctx, session, run, list(units))


def move_on(ctx: JobContext, session: Session, run: SyncRunRow, units: list[SyncUnitRow],
            defer_units: Callable[[Session, list[str]], None] | None = None) -> None:
    """``run``'s units (``units``) have all ended, in ``session`` (which holds the run's lock): plan its
    verification units and enqueue them (``defer_units``, else the process's queue), or close the run (a run that
    succeeded builds its period's families-at-risk report first: ``build_report``)."""
    defer = defer_units or ctx.defer_units
    if run.verify_planned_at is None and not run.cancel_requested and defer is not None:
        verifying = plan_verification(session, run)
        if verifying:
            defer(session, [u.id for u in verifying])
            return
    runs_repo.close_run(run, units)
    build_report(session, run)


def build_report(session: Session, run: SyncRunRow) -> None:
    """Decide -> verify -> **report** -> closed: a run that succeeded with a PKH period rebuilds that period's
    families-at-risk report (``risk.build``) in the transaction that closes it, and keeps its counts. A build that
    fails is rolled back to its savepoint and named in the run's errors; the run stays as its units made it."""
    if run.status != RunStatus.SUCCEEDED.value or not run.periode:
        return
    try:
        with session.begin_nested():
            built = risk_build.rebuild(session, run.periode, run.id)
    except Exception as exc:  # a bug: the report of the period stays as the previous run built it
        log.exception("sync run %s: the families-at-risk report could not be built", run.id)
        run.errors = [*run.errors, f"families-at-risk report: {type(exc).__name__}: {exc}"[:300]][:50]
        return
    run.at_risk = built.counts
    run.timings = {**run.timings, **{f"report.{k}": v for k, v in built.seconds.items()}}


VERIFY, KEMENSOS = "verify", "kemensos"  # a verification unit's kind and system


def plan_verification(session: Session, run: SyncRunRow) -> list[SyncUnitRow]:
    """The verification units of ``run``, one per NIK province prefix of the PKH children it has to verify (none
    when it verifies nothing), added to ``session``."""
    run.verify_planned_at = utcnow()
    if not run.periode:
        return []
    rows = [SyncUnitRow(id=str(uuid.uuid4()), sync_run_id=run.id, system=KEMENSOS, region=prefix, kind=VERIFY,
                        status=UnitStatus.WAITING.value, created_at=run.verify_planned_at)
            for prefix in verification.partitions(session, runs_repo.verified_through(session, run.id, run.periode),
                                                  run.periode)]
    session.add_all(rows)
    session.flush()
    return rows
