"""The job functions, the same whoever runs them (a procrastinate worker, or the embedded thread pool).

Each returns normally when the job is done (or has nothing left to do) and raises ``Retry`` when it should be tried
again later: an upstream could not be reached, or the hub's own database could not do it now (a lost connection: a
restart, a failover; a deadlock chosen against it). A job is written to be run again from any point, as after a
crash. On its last attempt the job ends FAILED instead, saying why. Any other error ends the job FAILED at once (it
is a bug, logged with its traceback).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import sqlalchemy as sa

from services.sync_hub.jobs.context import JobContext
from services.sync_hub.sync import lifecycle, planner, unit, verify
from shared.db import database_unavailable
from shared.http import Unavailable
from shared.observability.tracing import job_span

log = logging.getLogger("jembatan.hub.jobs")


class Retry(Exception):
    """Try this job again later (an upstream could not be reached, the database was not available)."""


def passing(error: BaseException) -> str | None:
    """Why a job failed for now though it may succeed later (None: a bug)."""
    if isinstance(error, Unavailable):
        return f"an upstream could not be reached: {error}"
    return database_unavailable(error)


def _meanwhile(what: str, note: Callable[[], None]) -> None:
    """Write a note of a job's state that may not be writable yet (the database still away): the next attempt
    finds the job as it was left, which is fine."""
    try:
        note()
    except Exception as exc:
        if database_unavailable(exc) is None:
            raise
        log.warning("%s: not noted, the database is still away", what)


def plan_run(ctx: JobContext, run_id: str, defer_units: Callable[[sa.orm.Session, list[str]], None],
             last_attempt: bool) -> None:
    with job_span("job plan", run_id=run_id):
        try:
            planner.plan(ctx, run_id, defer_units)
        except Exception as exc:
            why = passing(exc)
            if why is None:
                log.exception("sync run %s: planning failed", run_id)
                planner.fail(ctx.db, run_id, f"internal error while planning: {type(exc).__name__}: {exc}")
            elif last_attempt:
                planner.fail(ctx.db, run_id, f"planning gave up: {why}")
            else:
                log.warning("sync run %s: planning will be tried again: %s", run_id, why)
                raise Retry(why) from exc


def work_unit(ctx: JobContext, unit_id: str, last_attempt: bool) -> None:
    """A deciding unit (``sync.unit``) or a verification unit (``sync.verify``)."""
    with job_span("job unit", unit_id=unit_id):
        try:
            if _kind(ctx.db, unit_id) == lifecycle.VERIFY:
                verify.work(ctx, unit_id)
            else:
                unit.work(ctx, unit_id)
        except Exception as exc:
            why = passing(exc)
            if why is None:
                log.exception("unit %s failed", unit_id)
                lifecycle.fail(ctx, unit_id, f"internal error: {type(exc).__name__}: {exc}")
            elif last_attempt:
                lifecycle.fail(ctx, unit_id, f"gave up: {why}")
            else:
                _meanwhile(f"unit {unit_id}", lambda: lifecycle.retry_later(ctx.db, unit_id, why))
                log.warning("unit %s will be tried again: %s", unit_id, why)
                raise Retry(why) from exc


def _range_job(what: str, last_attempt: bool, body: Callable[[], None]) -> None:
    """A range of a read split into jobs (a replica load's, a feed read's). A range given up on is not lost: it stays
    for the next reader (the plan waits for every range and reads any that nobody holds)."""
    try:
        body()
    except Exception as exc:
        why = passing(exc)
        if why is None:
            log.exception("%s failed; left to the next reader", what)
        elif last_attempt:
            log.warning("%s: gave up, left to the next reader: %s", what, why)
        else:
            log.warning("%s will be tried again: %s", what, why)
            raise Retry(why) from exc


def load_registry_range(ctx: JobContext, load_id: int, idx: int, last_attempt: bool) -> None:
    """One range of a ranged first load of the registry replica (``replica.ranged``); the load finished when it
    was the last (else by the next reader: a run's plan or the API's follower)."""
    from services.sync_hub.replica import ranged
    from services.sync_hub.runs import repository as runs_repo

    def body() -> None:
        if ranged.work_range(ctx.db, ctx.upstreams.kemensos, load_id, idx, runs_repo.add_registry_read):
            ranged.finish(ctx.db, load_id)

    with job_span("job registry range", load_id=load_id, range=idx):
        _range_job(f"registry load {load_id}, range {idx}", last_attempt, body)


def read_feed_range(ctx: JobContext, read_id: int, idx: int, last_attempt: bool) -> None:
    """One range of a full read of a gateway's feed or of the KIP listing (``sync.feed_ranges``)."""
    from services.sync_hub.sync import feed_ranges

    def body() -> None:
        name = feed_ranges.source_of(ctx.db, read_id)
        if name is not None:
            feed_ranges.work_range(ctx.db, planner.range_source(name, ctx.upstreams), read_id, idx,
                                   page_size=ctx.settings.page_size)

    with job_span("job feed range", read_id=read_id, range=idx):
        _range_job(f"feed read {read_id}, range {idx}", last_attempt, body)


def _kind(db: sa.Engine, unit_id: str) -> str | None:
    from services.sync_hub.runs.models import SyncUnitRow
    from shared.db import session_scope

    with session_scope(db) as session:
        return session.execute(sa.select(SyncUnitRow.kind).where(SyncUnitRow.id == unit_id)).scalar()


def close_finished_runs(ctx: JobContext) -> int:
    """Runs whose units have all ended but which are still open (the process died between a unit's last write
    and the run's closing, or before its verification units were planned) move on. Returns how many."""
    from services.sync_hub.runs import repository as runs_repo
    from shared.contracts.hub import RunStatus
    from shared.db import session_scope

    with session_scope(ctx.db) as session:
        open_runs = [r.id for r in runs_repo.runs_in_state(session, [RunStatus.RUNNING.value]) if r.planned_at]
        first_units = [[u.id for u in runs_repo.units_of(session, run_id)][:1] for run_id in open_runs]
    closed = 0
    for units in first_units:
        if units:
            lifecycle.finish_run_if_done(ctx, units[0])
            closed += 1
    return closed
