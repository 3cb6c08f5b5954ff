"""The app factory every service uses: error envelope, open /health, masked logging, OpenAPI metadata."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager

from fastapi import APIRouter, FastAPI

from shared.contracts.common import Health
from shared.errors import ERROR_RESPONSES, install_error_handlers

VERSION = "0.1.0"


def create_service_app(
    *,
    name: str,
    title: str,
    description: str,
    routers: Sequence[APIRouter],
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]] | Callable[[FastAPI], AsyncIterator[None]],
) -> FastAPI:
    app = FastAPI(title=title, description=description, version=VERSION, lifespan=lifespan,  # type: ignore[arg-type]
                  responses=ERROR_RESPONSES)
    install_error_handlers(app)

    @app.get("/health", response_model=Health, tags=["ops"], summary="Liveness (no credential needed)")
    def health() -> Health:
        return Health(service=name, version=VERSION)

    for router in routers:
        app.include_router(router)
    return app
