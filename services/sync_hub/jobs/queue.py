"""Where the hub's jobs go.

**PostgreSQL: procrastinate.** Jobs live in the hub's own database (schema applied by migration 0008) and are
enqueued on the caller's connection, so a run row and its plan job, or a plan's units and their jobs, are
committed together or not at all. Workers (``python -m services.sync_hub worker``, any number, on any machine
that reaches the database) take them; a job runs once at a time per lock (one plan at a time; one job per
system and region at a time), is tried again with exponential back-off while an upstream cannot be reached,
and is handed to another worker when its worker stops sending heartbeats (``jobs.worker``).

**SQLite (the embedded default): the hub's own threads.** The same job functions run on a small thread pool of
the API process, submitted when the transaction that asks for them commits. What makes this durable is the
hub's own tables: a hub that stops mid-run finds its runs and units on restart and submits them again
(``LocalQueue.start``). With several API processes on one SQLite file (``HUB_WORKERS``), one of them runs the
jobs: the holder of an exclusive lock on a file beside the database (the kernel releases it when that process
ends, and another takes over and resumes what was left). A run queued through another process is found by the
runner's sweep within ``SWEEP_SECONDS``.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import procrastinate
from procrastinate import RetryStrategy
from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlmodel import Session

from services.sync_hub.jobs import tasks
from services.sync_hub.jobs.context import JobContext
from services.sync_hub.runs import repository as runs_repo
from shared.contracts.hub import RunStatus, UnitStatus
from shared.db import normalise_url, session_scope

log = logging.getLogger("jembatan.hub.jobs")

QUEUE = "sync"


class JobQueue(Protocol):
    def defer_plan(self, session: Session, run_id: str) -> None:
        """Enqueue the planning of ``run_id`` as part of ``session``'s transaction."""

    def defer_units(self, session: Session, unit_ids: list[str]) -> None:
        """Enqueue these units' jobs as part of ``session``'s transaction."""

    def defer_registry_ranges(self, session: Session, load_id: int, indexes: list[int]) -> None:
        """Enqueue the range jobs of a ranged first load of the replica as part of ``session``'s transaction."""

    def defer_feed_ranges(self, session: Session, read_id: int, indexes: list[int]) -> None:
        """Enqueue the range jobs of a full feed read as ranges as part of ``session``'s transaction."""

    def start(self) -> None: ...

    def shutdown(self) -> None: ...


def libpq_url(database_url: str) -> str:
    """The hub's SQLAlchemy URL as a libpq connection string (for procrastinate's psycopg pool)."""
    return make_url(normalise_url(database_url)).set(drivername="postgresql").render_as_string(hide_password=False)


# -- PostgreSQL ---------------------------------------------------------------------------------------------------

_context: dict[str, Any] = {}  # the worker process's JobContext and deferring app (set by ``bind``)

# procrastinate waits 2**(attempt+1) s between attempts; ``_last`` ends a job FAILED at settings.job_attempts,
# before procrastinate's own limit (set above any sensible setting) is reached.
RETRY = RetryStrategy(max_attempts=49, exponential_wait=2, retry_exceptions={tasks.Retry})


def bind(ctx: JobContext) -> None:
    """Give the job functions of this process their context (a worker does this once at start)."""
    _context["ctx"] = ctx
    _context["queue"] = ProcrastinateQueue(make_app(ctx.settings.database_url))
    ctx.defer_units = _context["queue"].defer_units
    ctx.defer_registry_ranges = _context["queue"].defer_registry_ranges
    ctx.defer_feed_ranges = _context["queue"].defer_feed_ranges


def _last(job_context: procrastinate.JobContext) -> bool:
    ctx: JobContext = _context["ctx"]
    return job_context.job.attempts + 1 >= ctx.settings.job_attempts


def plan_run(job_context: procrastinate.JobContext, run_id: str) -> None:
    ctx: JobContext = _context["ctx"]
    tasks.plan_run(ctx, run_id, _context["queue"].defer_units, _last(job_context))


def work_unit(job_context: procrastinate.JobContext, unit_id: str) -> None:
    tasks.work_unit(_context["ctx"], unit_id, _last(job_context))


def load_registry_range(job_context: procrastinate.JobContext, load_id: int, idx: int) -> None:
    tasks.load_registry_range(_context["ctx"], load_id, idx, _last(job_context))


def read_feed_range(job_context: procrastinate.JobContext, read_id: int, idx: int) -> None:
    tasks.read_feed_range(_context["ctx"], read_id, idx, _last(job_context))


def make_app(database_url: str, *, worker: bool = False) -> procrastinate.App:
    """A worker's app (asynchronous pool) or a deferring app: the API process enqueues on the connection of its
    own transaction, synchronously, and never opens a pool. Each app has its own task objects (a task is bound
    to one app)."""
    connector = (procrastinate.PsycopgConnector(conninfo=libpq_url(database_url)) if worker
                 else procrastinate.SyncPsycopgConnector(conninfo=libpq_url(database_url)))
    app = procrastinate.App(connector=connector)
    app.task(name="hub:plan_run", queue=QUEUE, pass_context=True, retry=RETRY)(plan_run)
    app.task(name="hub:work_unit", queue=QUEUE, pass_context=True, retry=RETRY)(work_unit)
    app.task(name="hub:load_registry_range", queue=QUEUE, pass_context=True, retry=RETRY)(load_registry_range)
    app.task(name="hub:read_feed_range", queue=QUEUE, pass_context=True, retry=RETRY)(read_feed_range)
    return app


def _raw(session: Session) -> Any:
    """The psycopg connection under ``session``'s transaction (procrastinate enqueues on it)."""
    return session.connection().connection.driver_connection


class ProcrastinateQueue:
    def __init__(self, app: procrastinate.App) -> None:
        self.app = app  # only its tasks' configuration is used: jobs are enqueued on the caller's connection

    def defer_plan(self, session: Session, run_id: str) -> None:
        self.app.configure_task("hub:plan_run", connection=_raw(session), lock="hub:plan",
                                queueing_lock=f"plan:{run_id}").defer(run_id=run_id)

    def defer_units(self, session: Session, unit_ids: list[str]) -> None:
        units = {u.id: u for u in runs_repo.units_by_id(session, unit_ids)}
        raw = _raw(session)
        for unit_id in unit_ids:
            u = units[unit_id]
            self.app.configure_task("hub:work_unit", connection=raw, lock=f"unit:{u.system}:{u.region}",
                                    queueing_lock=f"unit:{unit_id}").defer(unit_id=unit_id)

    def defer_registry_ranges(self, session: Session, load_id: int, indexes: list[int]) -> None:
        self._defer_ranges(session, "hub:load_registry_range", "registry-range", "load_id", load_id, indexes)

    def defer_feed_ranges(self, session: Session, read_id: int, indexes: list[int]) -> None:
        self._defer_ranges(session, "hub:read_feed_range", "feed-range", "read_id", read_id, indexes)

    def _defer_ranges(self, session: Session, task: str, prefix: str, parent: str, parent_id: int,
                      indexes: list[int]) -> None:
        """One job per range of a read split into ranges, each with a lock of its own (never read twice at once)."""
        raw = _raw(session)
        for idx in indexes:
            key = f"{prefix}:{parent_id}:{idx}"
            self.app.configure_task(task, connection=raw, lock=key, queueing_lock=key).defer(
                **{parent: parent_id, "idx": idx})

    def start(self) -> None:
        pass

    def shutdown(self) -> None:
        pass


# -- SQLite (embedded) --------------------------------------------------------------------------------------------


SWEEP_SECONDS = 1.0  # how often the runner looks for runs queued by the hub's other processes


def runner_lock_path(engine: Engine) -> str | None:
    """The file whose lock elects the process that runs an SQLite hub's jobs (None: an in-memory database)."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:" or database.startswith("file:"):
        return None
    return f"{database}.jobs.lock"


class LocalQueue:
    """The same jobs on the hub's own threads, with the same retry policy; recovered from the hub's tables. One
    process of a hub runs them (``runner``): the others only queue runs in the database."""

    def __init__(self, ctx: JobContext) -> None:
        self.ctx = ctx
        ctx.defer_units = self.defer_units
        ctx.defer_registry_ranges = self.defer_registry_ranges
        ctx.defer_feed_ranges = self.defer_feed_ranges
        self._pool = ThreadPoolExecutor(max_workers=ctx.settings.local_workers, thread_name_prefix="hub-job")
        self._stopping = threading.Event()
        self._plan_lock = threading.Lock()  # one plan at a time, as procrastinate's "hub:plan" lock
        self._lock_path = runner_lock_path(ctx.db)
        self._lock_fd: int | None = None
        self.runner = False
        self._planned: set[str] = set()  # runs whose plan this process has submitted
        self._guard = threading.Lock()
        self._sweeper = threading.Thread(target=self._sweep, name="hub-job-sweep", daemon=True)

    def defer_plan(self, session: Session, run_id: str) -> None:
        if self.runner:
            event.listen(session, "after_commit", lambda _s: self._submit_plan(run_id), once=True)

    def _submit_plan(self, run_id: str) -> None:
        with self._guard:
            if run_id in self._planned:
                return
            self._planned.add(run_id)
        self._submit(self._plan, run_id)

    def defer_units(self, session: Session, unit_ids: list[str]) -> None:
        ids = list(unit_ids)
        event.listen(session, "after_commit", lambda _s: [self._submit(self._unit, i) for i in ids], once=True)

    # (reads in ranges are PostgreSQL's: ``replica.ranged.start``, ``feed_ranges.due``; here for the protocol)
    def defer_registry_ranges(self, session: Session, load_id: int, indexes: list[int]) -> None:
        self._after_commit(session, lambda key: tasks.load_registry_range(self.ctx, *key), load_id, indexes)

    def defer_feed_ranges(self, session: Session, read_id: int, indexes: list[int]) -> None:
        self._after_commit(session, lambda key: tasks.read_feed_range(self.ctx, *key), read_id, indexes)

    def _after_commit(self, session: Session, job: Any, parent_id: int, indexes: list[int]) -> None:
        """Each range's job on the same threads, with the same retry policy, once ``session`` commits."""
        ids = list(indexes)

        def run(key: tuple[int, int]) -> None:
            self._attempts(lambda last: job((*key, last)))

        event.listen(session, "after_commit",
                     lambda _s: [self._submit(run, (parent_id, i)) for i in ids], once=True)

    def _submit(self, fn: Any, key: Any) -> None:
        if not self._stopping.is_set():
            self._pool.submit(fn, key)

    def _attempts(self, body: Any) -> None:
        wait = self.ctx.settings.job_retry_wait
        for attempt in range(1, self.ctx.settings.job_attempts + 1):
            try:
                body(attempt >= self.ctx.settings.job_attempts)
                return
            except tasks.Retry:
                if self._stopping.wait(wait * 2 ** (attempt - 1)):
                    return
            except Exception:  # never lose the pool thread
                log.exception("job crashed")
                return

    def _plan(self, run_id: str) -> None:
        with self._plan_lock:
            self._attempts(lambda last: tasks.plan_run(self.ctx, run_id, self.defer_units, last))

    def _unit(self, unit_id: str) -> None:
        self._attempts(lambda last: tasks.work_unit(self.ctx, unit_id, last))

    def start(self) -> None:
        """Become the runner if no other process of this hub is (then resume what a previous one left), and sweep:
        a process that is not the runner tries again to become it; the runner plans runs queued elsewhere."""
        self._take_over()
        self._sweeper.start()

    def _take_over(self) -> bool:
        """Try to become the runner; as it, submit again the runs and units a previous runner left unfinished."""
        if self.runner:
            return True
        if self._lock_path is not None:
            fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            self._lock_fd = fd
        self.runner = True
        with session_scope(self.ctx.db) as session:
            runs = runs_repo.runs_in_state(session, [RunStatus.QUEUED.value, RunStatus.RUNNING.value])
            plans = [r.id for r in runs if r.planned_at is None and r.student_ids is None]
            units = [u.id for r in runs if r.planned_at is not None for u in runs_repo.units_of(session, r.id)
                     if u.status in (UnitStatus.WAITING.value, UnitStatus.RUNNING.value)]
        tasks.close_finished_runs(self.ctx)
        for run_id in plans:
            self._submit_plan(run_id)
        for unit_id in units:
            self._submit(self._unit, unit_id)
        if plans or units:
            log.info("resuming %d plan(s) and %d unit(s) left by a previous process", len(plans), len(units))
        return True

    def _sweep(self) -> None:
        while not self._stopping.wait(SWEEP_SECONDS):
            try:
                if not self._take_over():
                    continue
                with session_scope(self.ctx.db) as session:
                    queued = [r.id for r in runs_repo.runs_in_state(session, [RunStatus.QUEUED.value])
                              if r.planned_at is None and r.student_ids is None]
                for run_id in queued:  # queued through another process of this hub
                    self._submit_plan(run_id)
            except Exception:  # the sweeper must outlive a locked or lost database
                log.exception("sweeping the hub's queued runs failed; trying again")

    def shutdown(self) -> None:
        self._stopping.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._sweeper.is_alive():
            self._sweeper.join()
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the lock: another process of this hub takes over
            self._lock_fd, self.runner = None, False


def make_queue(ctx: JobContext) -> JobQueue:
    if ctx.db.dialect.name == "postgresql":
        queue = ProcrastinateQueue(make_app(ctx.settings.database_url))
        ctx.defer_units = queue.defer_units
        ctx.defer_registry_ranges = queue.defer_registry_ranges
        ctx.defer_feed_ranges = queue.defer_feed_ranges
        return queue
    return LocalQueue(ctx)


def wait_idle(engine: Engine, timeout: float) -> bool:
    """True once no run is queued or running (tests and benchmarks)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with session_scope(engine) as session:
            if runs_repo.active_run(session) is None:
                return True
        time.sleep(0.1)
    return False
