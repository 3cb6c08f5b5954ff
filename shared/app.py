"""The app factory every service uses: error envelope, credential gate, open /health, /ready and /metrics,
observability (shared.observability), OpenAPI metadata."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, FastAPI, Request
from pydantic import BaseModel

from shared import heap, openapi
from shared.auth import Authenticate, CredentialGate, TokensOf
from shared.contracts.common import Health
from shared.db import unstorable_text
from shared.errors import ERROR_RESPONSES, InvalidInput, install_error_handlers
from shared.idempotency import IdempotencyMiddleware
from shared.observability import install as install_observability
from shared.observability.install import OPEN_PATHS, ReadyCheck

VERSION = "0.1.0"

# FastAPI (0.16x) has OpenTelemetry of its own, on whenever a global tracer provider is set (ours is): it then asks,
# on every request, whether it is configured and whether the OpenTelemetry instrumentation is in the middleware stack
# (walking it), and, finding that it is, records nothing itself. Our traces come from that instrumentation
# (``shared.observability.tracing``), our metrics from prometheus-client: FastAPI's own is switched off, which saves
# those per-request steps and changes no span, metric or log (``shared/tests/test_observability.py``).
_NATIVE_TELEMETRY_OFF: dict[str, Any] = (
    {"telemetry": {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}}
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters else {})


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
    app = FastAPI(title=title, description=description, version=VERSION, lifespan=_settling(lifespan),
                  responses=ERROR_RESPONSES, dependencies=[*(dependencies or []), Depends(storable_parameters)],
                  generate_unique_id_function=openapi.operation_id, **_NATIVE_TELEMETRY_OFF)
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
    build_routes(app)
    return app


async def storable_parameters(request: Request) -> None:
    """Every route's path and query parameters hold text both databases can store: a NUL (``%00``) in one is a
    422 naming the parameter (rule ``nul_character``) before any handler looks it up, on every service and both
    databases alike; PostgreSQL refuses a NUL in a text parameter, and a lookup by one was a 500 there (a 404 on
    SQLite). Only the route's own parameters are named, so an error never repeats a name the caller made up.
    ``async``: it does no I/O, and a plain ``def`` dependency would cost every request a hop to the thread pool."""
    scope = request.scope
    if "\x00" not in scope["path"] and b"%00" not in scope["query_string"]:
        return  # the whole check for nearly every request
    for name, value in request.path_params.items():
        if isinstance(value, str) and (rule := unstorable_text(value)):
            raise InvalidInput.field(name, rule, "a path parameter holding a NUL character (or not UTF-8) is no id")
    route = scope.get("route")
    declared = _query_names(route) if route is not None else ()
    for name in declared:
        for value in request.query_params.getlist(name):
            if rule := unstorable_text(value):
                raise InvalidInput.field(name, rule, "a query parameter may not hold a NUL character (or not UTF-8)")


def _query_names(route: Any) -> tuple[str, ...]:
    """The query parameters ``route`` declares (its dependencies' included), worked out once per route."""
    names: tuple[str, ...] | None = getattr(route, "_jembatan_query_names", None)
    if names is None:
        found: list[str] = []
        pending = [getattr(route, "dependant", None)]
        while pending:
            dependant = pending.pop()
            if dependant is not None:
                for param in dependant.query_params:
                    model = param.field_info.annotation
                    if isinstance(model, type) and issubclass(model, BaseModel):  # a query model: its fields
                        found += [f.alias or name for name, f in model.model_fields.items()]
                    else:
                        found.append(param.alias)
                pending += dependant.dependencies
        names = tuple(dict.fromkeys(found))
        route._jembatan_query_names = names
    return names


def _settling(lifespan: Callable[[FastAPI], Any]) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """``lifespan`` (a context manager factory or an async generator function), then, once the service's start-up is
    done, its heap settled when the process that serves it asked for it (``shared.heap``)."""
    enter = asynccontextmanager(lifespan) if inspect.isasyncgenfunction(lifespan) else lifespan

    @asynccontextmanager
    async def settling(app: FastAPI) -> AsyncIterator[None]:
        async with enter(app):
            heap.after_start()
            yield

    return settling


def build_routes(app: FastAPI) -> int:
    """Build now what FastAPI (0.137 and later) builds on the first request that reaches an included router: the
    effective form of each of its routes, with their parameter and response fields. Building a field makes pydantic
    warn, and FastAPI silences that with ``warnings.catch_warnings()``, which swaps the whole process's filters and
    is not thread-safe: on the first requests of several threads at once (a hub job thread, the load of many
    operators) it can leave another thread's filters swapped, and under pytest's ``error`` filter turn a request
    into a 500 that is not the app's. Built here, once, on the thread that makes the app, no request builds one.
    Answers the number of routes built; a FastAPI that builds them eagerly has nothing to build (0)."""
    built = 0
    pending: list[Any] = list(app.router.routes)
    while pending:
        route = pending.pop()
        for name in ("effective_candidates", "effective_low_priority_routes", "effective_route_contexts"):
            build = getattr(route, name, None)
            if not callable(build):
                continue
            for effective in build():
                if callable(getattr(effective, "effective_candidates", None)):
                    pending.append(effective)  # a router included in this one: its own routes are built apart
                else:
                    built += 1
    return built
