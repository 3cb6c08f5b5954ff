"""The app factory every service uses: error envelope, credential gate, open /health, /ready and /metrics,
observability (shared.observability), OpenAPI metadata."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, FastAPI

from shared import openapi
from shared.auth import Authenticate, CredentialGate, TokensOf
from shared.contracts.common import Health
from shared.errors import ERROR_RESPONSES, install_error_handlers
from shared.idempotency import IdempotencyMiddleware
from shared.observability import install as install_observability
from shared.observability.install import OPEN_PATHS, ReadyCheck

VERSION = "0.1.0"


def create_service_app(
    *,
    name: str,
    title: str,
    description: str,
    routers: Sequence[APIRouter],
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]] | Callable[[FastAPI], AsyncIterator[None]],
    credentials: TokensOf,
    authenticate: Authenticate | None = None,
    dependencies: Sequence[Any] | None = None,
    telemetry: bool = True,
    ready_checks: Mapping[str, ReadyCheck] | None = None,
    collectors: Sequence[Callable[[FastAPI], Any]] = (),
    scoped: bool = False,
    security: str = "A bearer token: `Authorization: Bearer <token>`",
    idempotency_table: sa.Table | None = None,
) -> FastAPI:
    """``credentials`` gives every credential the service accepts (any role): calls without one of them are
    answered 401 before their body is read; the routes' own dependencies then check roles and scopes (``scoped``:
the OpenAPI documents 403 on every ``/api`` route). ``security`` describes the bearer scheme in the OpenAPI.
``idempotency_table``: the service's ``idempotency_key`` table; routes taking ``Idempotency-Key`` then honour it
(``shared.idempotency``)."""
    app = FastAPI(title=title, description=description, version=VERSION, lifespan=lifespan,  # type: ignore[arg-type]
                  responses=ERROR_RESPONSES, dependencies=list(dependencies or []),
                  generate_unique_id_function=openapi.operation_id)
    install_error_handlers(app)
    if idempotency_table is not None:  # added before the gate, so it runs inside it (it knows the caller)
        app.add_middleware(IdempotencyMiddleware, fastapi_app=app, tbl=idempotency_table)
    open_paths = {"/health", *OPEN_PATHS, app.openapi_url, app.docs_url, app.redoc_url,
                  app.swagger_ui_oauth2_redirect_url}
    app.add_middleware(CredentialGate, tokens_of=credentials, open_paths={p for p in open_paths if p},
                       authenticate=authenticate)
    # outside the credential gate (its 401s are counted and carry a request id): docs/operations.md
    install_observability(app, name, telemetry=telemetry, ready_checks=ready_checks, collectors=collectors)

    @app.get("/health", response_model=Health, tags=["ops"], summary="Liveness (no credential needed)")
    def health() -> Health:
        """Answers 200 while the process serves requests (a liveness probe: no database is touched)."""
        return Health(service=name, version=VERSION)

    for router in routers:
        app.include_router(router)
    openapi.install(app, scoped=scoped, security_description=security)
    return app
