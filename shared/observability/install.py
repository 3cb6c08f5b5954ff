"""Puts observability on a service's app: one ASGI middleware (request id, RED metrics by route template, one
access log line), OpenTelemetry instrumentation, ``/metrics`` and ``/ready``. Open paths: no credential."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from prometheus_client import CollectorRegistry
from prometheus_client.registry import Collector
from sqlalchemy import text
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.contracts.common import Readiness
from shared.observability import context, metrics, tracing

access = logging.getLogger("jembatan.access")

# A readiness check: None when ready, else a short reason (no personal data, no secrets)
ReadyCheck = Callable[[FastAPI], str | None]
OPEN_PATHS = ("/ready", "/metrics")
_QUIET = {"/health", "/ready", "/metrics"}  # probes and scrapes: counted, not logged


def route_template(app: Any, scope: Scope) -> str:
    """The template of the route that answered (``/api/v1/sync-runs/{run_id}``), never the raw path. A request
    answered before routing (a 401 of the credential gate) is matched against the app's path templates; one that
    matches none is ``unmatched``."""
    route = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    if isinstance(path, str):
        return path
    return _templates(app).match(scope.get("path", ""))


class _Templates:
    def __init__(self, paths: list[str]) -> None:
        # literal templates first: /api/v1/sync-runs/latest before /api/v1/sync-runs/{run_id}
        ordered = sorted(paths, key=lambda p: (p.count("{"), -len(p)))
        self._compiled = [(re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(p)) + "$"), p)
                          for p in ordered]

    def match(self, path: str) -> str:
        for pattern, template in self._compiled:
            if pattern.match(path):
                return template
        return "unmatched"


def _templates(app: Any) -> _Templates:
    found = getattr(app.state, "_route_templates", None)
    if found is None:
        try:
            paths = list(app.openapi().get("paths", {}))
        except Exception:  # an app whose schema cannot be built still answers; its unrouted calls are unmatched
            paths = []
        found = app.state._route_templates = _Templates(paths)
    return found


class Observe:
    """Pure ASGI (no per-request task): request id in and out, metrics, the access log line."""

    def __init__(self, app: ASGIApp, *, service: str, owner: FastAPI, count: bool) -> None:
        self.app, self.service, self.owner, self.count = app, service, owner, count

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = None
        for key, value in scope.get("headers") or ():
            if key == b"x-request-id":
                given = value.decode("latin-1")
                break
        rid = context.accept_or_make(given)
        token = context.request_id.set(rid)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", rid.encode("latin-1"))]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = route_template(self.owner, scope)
            method = scope.get("method", "GET")
            if self.count:
                metrics.observe_request(self.service, method, route, status, seconds)
            if route not in _QUIET:
                access.info("%s %s %d %.1f ms", method, route, status, seconds * 1000,
                            extra={"http_method": method, "route": route, "status": status,
                                   "duration_ms": round(seconds * 1000, 2)})
            context.request_id.reset(token)


def install(app: FastAPI, service: str, *, telemetry: bool = True,
            ready_checks: Mapping[str, ReadyCheck] | None = None,
            collectors: Sequence[Callable[[FastAPI], Collector]] = ()) -> None:
    """``telemetry`` False (``<PREFIX>TELEMETRY=false``) leaves out metrics and traces (the request id and
    ``/ready`` stay): the switch the overhead benchmark turns."""
    app.add_middleware(Observe, service=service, owner=app, count=telemetry)
    registry = None
    if telemetry:
        registry = CollectorRegistry(auto_describe=False)
        for make in collectors:
            registry.register(make(app))
        if not tracing.disabled():
            tracing.instrument_app(app, service)

    checks = dict(ready_checks or {})

    @app.get("/ready", response_model=Readiness, tags=["ops"], summary="Readiness (no credential needed)",
             description="200 when the service can answer: its database answers"
             + (" and " + ", ".join(checks) if checks else "") + "; 503 naming what is not ready otherwise. "
             "`/health` is liveness only.",
             responses={503: {"model": Readiness, "description": "Not ready: the failing checks are named"}})
    def ready() -> Response:
        results: dict[str, str] = {}
        try:
            with app.state.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            results["database"] = "ok"
        except Exception as exc:  # not ready: say what, not the URL or credentials
            results["database"] = f"unavailable: {type(exc).__name__}"
        for name, check in checks.items():
            if results["database"] != "ok":
                results[name] = "unknown: database unavailable"
                continue
            try:
                problem = check(app)
            except Exception as exc:
                problem = f"check failed: {type(exc).__name__}"
            results[name] = problem or "ok"
        ok = all(v == "ok" for v in results.values())
        body = Readiness(status="ready" if ok else "not_ready", service=service, checks=results)
        return JSONResponse(body.model_dump(), status_code=200 if ok else 503)

    if telemetry:
        @app.get("/metrics", tags=["ops"], summary="Prometheus metrics (no credential needed)",
                 description="Prometheus text format. Labels carry route templates, statuses and outcome codes, "
                 "never a path, an id or personal data (docs/operations.md).",
                 response_class=Response, responses={200: {"content": {metrics.CONTENT_TYPE: {}}}})
        def prometheus() -> Response:
            return Response(metrics.exposition(registry), media_type=metrics.CONTENT_TYPE)
