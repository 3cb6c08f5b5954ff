"""sync_hub: matches students to registry families by NIK and writes PKH / KIP back with provenance."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from services.sync_hub.config import Settings, get_settings
from services.sync_hub.deps import every_token
from services.sync_hub.jobs.context import JobContext
from services.sync_hub.jobs.queue import make_queue
from services.sync_hub.jobs.worker import InProcessWorker
from services.sync_hub.provenance.router import router as provenance_router
from services.sync_hub.review.router import router as review_router
from services.sync_hub.runs.router import checks as checks_router
from services.sync_hub.runs.router import router as runs_router
from services.sync_hub.runs.service import RunQueue
from services.sync_hub.sync.engine import SyncEngine
from services.sync_hub.upstreams import Upstreams, make_upstreams
from shared import logging as jlog
from shared.app import create_service_app
from shared.db import make_engine, migrate

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: Settings | None = None, upstreams: Upstreams | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        jlog.configure("sync_hub", settings.log_level)
        if settings.auto_migrate:
            migrate(MIGRATIONS, settings.database_url)
        engine = make_engine(settings.database_url)
        ups = upstreams or make_upstreams(settings)
        jobs = make_queue(JobContext(engine, ups, settings))
        queue = RunQueue(engine, jobs, SyncEngine(engine, ups, settings))
        jobs.start()
        worker = InProcessWorker(JobContext(engine, ups, settings)) if (
            settings.in_process_worker and engine.dialect.name == "postgresql") else None
        if worker is not None:
            worker.start()
        app.state.settings, app.state.engine, app.state.runs = settings, engine, queue
        try:
            yield
        finally:
            if worker is not None:
                worker.stop()
            queue.shutdown()
            if upstreams is None:
                ups.close()
            engine.dispose()

    return create_service_app(
        name="sync_hub",
        title="Jembatan sync hub",
        description=(
            "Matches students in EMIS 4.0 and Dapodik to their families in the Kemensos registry by NIK "
            "(verified against identity), pulls PKH and KIP status, writes the results back to both "
            "gateways and records the provenance of every value it writes. Every student ends a run "
            "with an outcome code that says why."
        ),
        routers=[runs_router, checks_router, provenance_router, review_router],
        lifespan=lifespan,
        credentials=every_token,
    )
