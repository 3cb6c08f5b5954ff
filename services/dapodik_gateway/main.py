"""The app factory: ``create_app(settings)``; engine and migrations in the lifespan, never at import."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.dapodik_gateway import db
from services.dapodik_gateway.access import every_token
from services.dapodik_gateway.config import SERVICE_NAME, Settings, get_settings
from services.dapodik_gateway.db import IDEMPOTENCY
from services.dapodik_gateway.edits.router import router as edits_router
from services.dapodik_gateway.feed.router import router as feed_router
from services.dapodik_gateway.kehadiran.router import router as kehadiran_router
from services.dapodik_gateway.kesejahteraan import service as kesejahteraan_service
from services.dapodik_gateway.kesejahteraan.router import router as kesejahteraan_router
from services.dapodik_gateway.kip.router import router as kip_router
from services.dapodik_gateway.peserta_didik.router import router as peserta_didik_router
from services.dapodik_gateway.pkh import service as pkh_service
from services.dapodik_gateway.pkh.router import router as pkh_router
from services.dapodik_gateway.results.router import router as results_router
from services.dapodik_gateway.sekolah.router import router as sekolah_router
from services.dapodik_gateway.sinkronisasi.router import router as sinkronisasi_router
from services.dapodik_gateway.spreadsheet.router import router as spreadsheet_router
from services.dapodik_gateway.validasi import service as validasi_service
from services.dapodik_gateway.validasi.router import router as validasi_router
from shared.app import create_service_app
from shared.clients import HubClient
from shared.logging import configure

DESCRIPTION = """Dapodik (Kemendikdasmen) gateway: schools (`sekolah`) and students (`peserta_didik`) with
Dapodik's field names, and the hub's PKH/KIP results written back with provenance and a value history.
Every `/api/...` route needs `Authorization: Bearer <token>`."""


HubFactory = Callable[[Settings], HubClient | None]


def make_hub(settings: Settings) -> HubClient | None:
    """The client "Request Data PKH" asks the hub with, or None when no credential is configured."""
    token = settings.hub_token.get_secret_value()
    return HubClient(settings.hub_url, token) if token else None


def create_app(settings: Settings | None = None, hub: HubFactory | None = None) -> FastAPI:
    """``hub`` makes the hub client at start-up (tests pass one reaching an in-process hub); by default it
    comes from ``DAPODIK_HUB_URL`` / ``DAPODIK_HUB_TOKEN``."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure(SERVICE_NAME, settings.log_level, settings.log_format)
        if settings.auto_migrate:
            db.migrate(settings.database_url)
        engine = db.make_engine(settings.database_url)
        validasi_service.validate_pending_on(engine)  # rows loaded before validation existed
        kesejahteraan_service.reconcile_missing_on(engine)  # ... or before kesejahteraan_pd existed
        app.state.engine = engine
        app.state.settings = settings
        app.state.hub = (hub or make_hub)(settings)
        app.state.pkh_presses = pkh_service.Presses(engine, lambda: app.state.hub, settings.hub_calls_in_flight)
        # Everything imported and built so far lives as long as the process: keep it out of the garbage
        # collector's full passes, which otherwise scan it all every few result batches (~0.1 s each here).
        gc.freeze()
        try:
            yield
        finally:
            gc.unfreeze()
            if app.state.hub is not None:
                app.state.hub.close()
            engine.dispose()

    app = create_service_app(
        telemetry=settings.telemetry,
        name=SERVICE_NAME, title="Jembatan — Dapodik gateway", description=DESCRIPTION,
        routers=[sekolah_router, sinkronisasi_router, spreadsheet_router, kehadiran_router, peserta_didik_router,
                 pkh_router, edits_router,
                 validasi_router,
                 kesejahteraan_router, kip_router, feed_router, results_router], lifespan=lifespan,
        credentials=every_token,
        scoped=True,
        idempotency_table=IDEMPOTENCY,
        security="A client token from `DAPODIK_API_TOKENS` (operators scoped to their schools, the hub's own token)",
    )
    db.install_contention_handler(app)
    return app
