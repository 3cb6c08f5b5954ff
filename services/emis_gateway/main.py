"""The EMIS gateway app: ``create_app(settings)``; the engine, the hub client and the PKH worker are made in
the lifespan, never at import."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from services.emis_gateway.base import IDEMPOTENCY
from services.emis_gateway.config import Settings, get_settings
from services.emis_gateway.deps import every_token
from services.emis_gateway.feed.router import router as feed_router
from services.emis_gateway.ganda.router import router as ganda_router
from services.emis_gateway.ganda.service import DuplicateIndex
from services.emis_gateway.kehadiran.router import router as kehadiran_router
from services.emis_gateway.madrasah.router import router as madrasah_router
from services.emis_gateway.pesantren.router import router as pesantren_router
from services.emis_gateway.pkh.router import router as pkh_router
from services.emis_gateway.pkh.service import PkhRequests
from services.emis_gateway.pkh.worker import PkhWorker
from services.emis_gateway.results.router import router as results_router
from services.emis_gateway.sinkron.router import router as sinkron_router
from services.emis_gateway.siswa.router import router as siswa_router
from services.emis_gateway.spreadsheet.router import router as spreadsheet_router
from shared.app import create_service_app
from shared.clients import HubClient
from shared.db import make_engine, migrate
from shared.logging import configure

SERVICE = "emis_gateway"
MIGRATIONS = Path(__file__).parent / "migrations"

HubFactory = Callable[[Settings], HubClient | None]


def make_hub(settings: Settings) -> HubClient | None:
    """The client this gateway asks the hub with, or None when no credential is configured."""
    token = settings.hub_token.get_secret_value()
    return HubClient(settings.hub_url, token) if token else None


def create_app(settings: Settings | None = None, hub: HubFactory | None = None) -> FastAPI:
    """``hub`` makes the hub client at start-up (tests pass one that reaches an in-process hub); by
    default it comes from ``EMIS_HUB_URL`` / ``EMIS_HUB_TOKEN``."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure(SERVICE, settings.log_level, settings.log_format)
        if settings.auto_migrate:
            migrate(MIGRATIONS, settings.database_url)
        engine = make_engine(settings.database_url)
        hub_client = (hub or make_hub)(settings)
        requests = PkhRequests(engine, hub_client, settings)
        worker = PkhWorker(requests, settings.pkh_poll_seconds) if settings.pkh_worker else None
        app.state.engine, app.state.settings, app.state.pkh = engine, settings, requests
        app.state.ganda = DuplicateIndex()
        # Everything imported and built so far lives as long as the process: keep it out of the garbage
        # collector's full passes, which otherwise scan it all every few result batches (as the Dapodik gateway).
        gc.freeze()
        if worker is not None:
            worker.start()
        try:
            yield
        finally:
            gc.unfreeze()
            if worker is not None:
                worker.stop()
            if hub is None and hub_client is not None:
                hub_client.close()
            engine.dispose()

    app = create_service_app(
        telemetry=settings.telemetry,
        name=SERVICE,
        title="Jembatan EMIS 4.0 gateway",
        description="Madrasah and their students as EMIS 4.0 (Kemenag) holds them, with the PKH data "
                    "(server data from Kemensos) that the sync hub writes back, each value with its provenance. "
                    "Request Data PKH asks the hub for one student or a whole madrasah and saves the answer in "
                    "the same step; while the registry is unreachable the request is queued (PENDING).",
        routers=[madrasah_router, siswa_router, results_router, pkh_router, ganda_router,
                 sinkron_router, spreadsheet_router, kehadiran_router, pesantren_router, feed_router],
        lifespan=lifespan,
        credentials=every_token,
        scoped=True,
        idempotency_table=IDEMPOTENCY,
        security="A client token from `EMIS_API_TOKENS` (operators scoped to their madrasah, the hub's own token)",
    )
    app.state.settings = settings
    return app
