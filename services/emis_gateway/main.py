"""The EMIS gateway app: ``create_app(settings)``; the engine is made in the lifespan, never at import."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from services.emis_gateway.config import Settings, get_settings
from services.emis_gateway.madrasah.router import router as madrasah_router
from services.emis_gateway.results.router import router as results_router
from services.emis_gateway.siswa.router import router as siswa_router
from shared.app import create_service_app
from shared.db import make_engine, migrate
from shared.logging import configure

SERVICE = "emis_gateway"
MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure(SERVICE, settings.log_level)
        if settings.auto_migrate:
            migrate(MIGRATIONS, settings.database_url)
        engine = make_engine(settings.database_url)
        app.state.engine = engine
        app.state.settings = settings
        try:
            yield
        finally:
            engine.dispose()

    app = create_service_app(
        name=SERVICE,
        title="Jembatan EMIS 4.0 gateway",
        description="Madrasah and their students as EMIS 4.0 (Kemenag) holds them, with the PKH data "
                    "(server data from Kemensos) that the sync hub writes back, each value with its provenance.",
        routers=[madrasah_router, siswa_router, results_router],
        lifespan=lifespan,
    )
    app.state.settings = settings
    return app
