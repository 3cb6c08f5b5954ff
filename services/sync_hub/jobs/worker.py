"""A worker process: ``python -m services.sync_hub worker`` (PostgreSQL).

It takes the hub's jobs from procrastinate's queue in the hub's database, sends a heartbeat every few seconds
and, every ``stalled_after / 3`` seconds, hands back to the queue the jobs of workers whose heartbeat stopped
(a worker killed with -9, a machine lost): any worker may pick them up again, and the job functions are safe to
run again (docs/architecture.md). It also closes runs whose units have all ended. It outlives its database: when
the connection to the queue is lost (a restart, a failover), it starts again once the database answers.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import time

import procrastinate
import psycopg
from procrastinate.exceptions import ConnectorException

from services.sync_hub.config import Settings
from services.sync_hub.jobs import queue, tasks
from services.sync_hub.jobs.context import JobContext
from services.sync_hub.upstreams import make_upstreams
from shared import heap
from shared.db import make_engine

log = logging.getLogger("jembatan.hub.worker")


async def sweep(app: procrastinate.App, ctx: JobContext) -> None:
    """Hand the jobs of stalled workers back to the queue; close runs whose units have all ended."""
    while True:
        await asyncio.sleep(ctx.settings.stalled_after / 3)
        try:
            stalled = await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=ctx.settings.stalled_after)
            for job in stalled:
                log.warning("job %s (%s) was left by a worker that stopped; queued again", job.id, job.task_name)
                await app.job_manager.retry_job(job)
            await app.job_manager.prune_stalled_workers(ctx.settings.stalled_after)
            await asyncio.to_thread(tasks.close_finished_runs, ctx)
        except Exception:  # the sweeper must outlive a lost connection
            log.exception("sweeping stalled jobs failed; trying again")


RESTART_PAUSE_MAX = 30.0  # seconds between starts while the database stays away


async def run(ctx: JobContext, concurrency: int = 1, install_signal_handlers: bool = True) -> None:
    """Work until stopped. Procrastinate's worker ends when its connection to the queue is lost; this one then
    starts again, after a pause that doubles (up to ``RESTART_PAUSE_MAX``) while the database stays away. The jobs
    it held are handed back to the queue by the stalled-job sweep (its heartbeat stopped with it)."""
    pause = 1.0
    while True:
        started = time.monotonic()
        try:
            await _work(ctx, concurrency, install_signal_handlers)
            return
        except (ConnectorException, psycopg.OperationalError) as exc:  # (a pool's timeout is one too)
            cause = exc.__cause__ or exc
            log.warning("the queue's database failed the worker (%s: a lost connection, or its place pruned as "
                        "stalled); it starts again in %.0f s",
                        type(cause).__name__, pause)
        await asyncio.sleep(pause)
        pause = 1.0 if time.monotonic() - started > 4 * RESTART_PAUSE_MAX else min(2 * pause, RESTART_PAUSE_MAX)


async def _work(ctx: JobContext, concurrency: int, install_signal_handlers: bool) -> None:
    app = queue.make_app(ctx.settings.database_url, worker=True)
    queue.bind(ctx)
    async with app.open_async():
        sweeper = asyncio.create_task(sweep(app, ctx))
        try:
            await app.run_worker_async(
                queues=[queue.QUEUE], concurrency=concurrency, name=f"{socket.gethostname()}:{os.getpid()}",
                update_heartbeat_interval=max(1.0, ctx.settings.stalled_after / 6),
                stalled_worker_timeout=ctx.settings.stalled_after, delete_jobs="successful",
                install_signal_handlers=install_signal_handlers)
        finally:
            sweeper.cancel()


class InProcessWorker:
    """A worker on a thread of the API process (``HUB_IN_PROCESS_WORKER``, PostgreSQL): one machine, one process."""

    def __init__(self, ctx: JobContext) -> None:
        self.ctx = ctx
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._thread = threading.Thread(target=self._main, name="hub-worker", daemon=True)
        self._ready = threading.Event()

    def _main(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._task = self._loop.create_task(run(self.ctx, install_signal_handlers=False))
        self._ready.set()
        try:
            self._loop.run_until_complete(self._task)
        except asyncio.CancelledError:
            pass
        finally:
            self._loop.close()

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(10)

    def stop(self) -> None:
        if self._loop is not None and self._task is not None:
            self._loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(timeout=30)


def main(settings: Settings, concurrency: int = 1) -> None:
    engine = make_engine(settings.database_url)
    if engine.dialect.name != "postgresql":
        raise SystemExit("a separate worker needs the hub on PostgreSQL (HUB_DATABASE_URL); the embedded SQLite hub "
                         "runs its jobs in its own process")
    ups = make_upstreams(settings)
    heap.settle_on_start()
    heap.after_start()  # its start-up's objects frozen: shared.heap
    try:
        asyncio.run(run(JobContext(engine, ups, settings), concurrency))
    finally:
        ups.close()
        engine.dispose()
