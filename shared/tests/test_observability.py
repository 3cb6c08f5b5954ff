"""shared.observability and shared.logging: request ids, route templates as labels, /ready, /metrics, JSON log
lines with ids and masked personal data, and prometheus-client's multiprocess mode summing worker processes."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi import APIRouter, FastAPI
from pydantic import SecretStr

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from shared import logging as jlog
from shared.app import create_service_app
from shared.observability import context, tracing
from shared.observability.install import route_template

TOKEN = "t" * 24
NIK = "3201012345670001"


def make_app(tmp_path: Path, *, telemetry: bool = True, ready: bool = True) -> FastAPI:
    router = APIRouter()

    @router.get("/api/v1/things/{thing_id}")
    def thing(thing_id: str) -> dict[str, str]:
        logging.getLogger("jembatan.test").info("thing asked for NIK %s", NIK, extra={"nama": "Budi Santoso"})
        return {"id": thing_id}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.engine = sa.create_engine(f"sqlite:///{tmp_path / 'x.db'}")
        yield
        app.state.engine.dispose()

    return create_service_app(name="svc_test", title="t", description="t", routers=[router], lifespan=lifespan,
                              credentials=lambda _: {"op": SecretStr(TOKEN)}, telemetry=telemetry,
                              ready_checks={"thing": lambda app: None if ready else "not yet: waiting"})


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    """The root logger's JSON lines, as configured for a service (restored after)."""
    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    jlog.configure("svc_test", "INFO", "json")
    out = io.StringIO()
    root.handlers[0].stream = out  # type: ignore[attr-defined]
    try:
        yield out
    finally:
        root.handlers[:] = saved
        root.setLevel(level)


def parsed(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines() if line.startswith("{")]


def test_request_id_is_taken_when_well_formed_and_made_otherwise() -> None:
    assert context.accept_or_make("abc-123.X:y_z") == "abc-123.X:y_z"
    for bad in (None, "", "a" * 129, "has space", "line\nbreak", f"rid-{NIK}", "x" * 15 + "123456789012345"):
        made = context.accept_or_make(bad)
        assert made != bad and len(made) == 32 and int(made, 16) >= 0


def test_answers_carry_the_request_id_and_requests_are_counted_by_template(tmp_path: Path) -> None:
    with TestClient(make_app(tmp_path)) as client:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        given = client.get("/api/v1/things/t-1", headers={**auth, "X-Request-ID": "caller-1"})
        assert given.headers["x-request-id"] == "caller-1"
        made = client.get("/api/v1/things/t-2", headers=auth).headers["x-request-id"]
        assert len(made) == 32 and made != "caller-1"
        unauthenticated = client.get("/api/v1/things/t-3")
        assert unauthenticated.status_code == 401 and unauthenticated.headers["x-request-id"]
        client.get("/no/such/path/3201012345670001")
        text = client.get("/metrics").text  # no credential needed
    line = 'jembatan_http_requests_total{method="GET",route="/api/v1/things/{thing_id}",service="svc_test",status="%s"}'
    assert line % "200" + " 2.0" in text
    assert line % "401" + " 1.0" in text  # answered by the credential gate, before routing: still the template
    assert 'route="unmatched",service="svc_test",status="401"' in text
    assert "t-1" not in text and NIK not in text


def test_route_template_never_returns_a_path(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    scope = {"type": "http", "path": "/api/v1/things/abc", "method": "GET"}
    assert route_template(app, scope) == "/api/v1/things/{thing_id}"
    assert route_template(app, {**scope, "path": "/api/v1/things/abc/more"}) == "unmatched"


def test_ready_checks_the_database_and_the_services_own_checks(tmp_path: Path) -> None:
    with TestClient(make_app(tmp_path)) as client:
        r = client.get("/ready")
        assert r.status_code == 200 and r.json() == {"status": "ready", "service": "svc_test",
                                                     "checks": {"database": "ok", "thing": "ok"}}
        assert client.get("/health").status_code == 200
    with TestClient(make_app(tmp_path, ready=False)) as client:
        r = client.get("/ready")
        assert r.status_code == 503 and r.json()["checks"] == {"database": "ok", "thing": "not yet: waiting"}
    app = make_app(tmp_path)
    with TestClient(app) as client:
        app.state.engine = sa.create_engine("sqlite:////nonexistent-dir/x.db")  # the database went away
        r = client.get("/ready")
        assert r.status_code == 503 and r.json()["checks"]["database"].startswith("unavailable: ")
        assert r.json()["checks"]["thing"] == "unknown: database unavailable"
        assert client.get("/health").status_code == 200  # liveness does not depend on the database


def test_telemetry_off_serves_no_metrics_but_keeps_request_ids_and_readiness(tmp_path: Path) -> None:
    with TestClient(make_app(tmp_path, telemetry=False)) as client:
        assert client.get("/metrics").status_code in (401, 404)
        assert client.get("/ready").status_code == 200
        assert client.get("/ready").headers["x-request-id"]


def test_json_lines_carry_service_request_and_trace_ids_and_mask_personal_data(
        tmp_path: Path, lines: io.StringIO) -> None:
    with TestClient(make_app(tmp_path)) as client:
        client.get("/api/v1/things/t-9", headers={"Authorization": f"Bearer {TOKEN}", "X-Request-ID": "rid-9"})
    records = parsed(lines)
    asked = [r for r in records if r["logger"] == "jembatan.test"]
    access = [r for r in records if r["logger"] == "jembatan.access" and r.get("route") == "/api/v1/things/{thing_id}"]
    assert len(asked) == 1 and len(access) == 1
    [line] = asked
    assert line["service"] == "svc_test" and line["level"] == "INFO" and line["request_id"] == "rid-9"
    assert len(str(line["trace_id"])) == 32 and line["trace_id"] == access[0]["trace_id"]
    assert line["message"] == "thing asked for NIK 320101******0001"
    assert line["nama"] == "B*** S***"
    assert access[0]["status"] == 200 and access[0]["request_id"] == "rid-9"
    assert NIK not in lines.getvalue() and "Budi" not in lines.getvalue()


def test_fastapis_own_telemetry_stays_off_with_ours_on(tmp_path: Path) -> None:
    """FastAPI (0.16x) would check on every request whether to trace it itself (our tracer provider is global);
    our traces come from the instrumentation, so the app is made with FastAPI's own switched off."""
    app = make_app(tmp_path)
    tracing.provider("svc_test")  # a global tracer provider is set
    native = getattr(app, "_native_telemetry", None)  # absent before FastAPI 0.16x: nothing to switch off
    assert native is None or not native.enabled()


def test_warnings_are_masked_by_lokal_ids_filter_too(lines: io.StringIO) -> None:
    log = logging.getLogger("jembatan.test")
    log.warning("could not reach the registry for Siti Aminah, HP 0812-3456-7890, KK %s", "3201019876540002")
    log.info("unit 32 done: 1200 students")
    [warning, info] = parsed(lines)[-2:]
    assert "Siti Aminah" not in str(warning["message"]) and "3456-7890" not in str(warning["message"])
    assert "3201019876540002" not in str(warning["message"])
    assert info["message"] == "unit 32 done: 1200 students"
    assert "request_id" not in info and "trace_id" not in info  # outside a request and a span


def test_outbound_headers_carry_the_trace_and_the_request_id() -> None:
    assert tracing.outbound_headers() == {}
    tp = tracing.provider("svc_test")
    token = context.request_id.set("rid-out")
    try:
        with tp.get_tracer("t").start_as_current_span("s") as span:
            headers = tracing.outbound_headers()
            trace_id = format(span.get_span_context().trace_id, "032x")
    finally:
        context.request_id.reset(token)
    assert headers["X-Request-ID"] == "rid-out"
    assert headers["traceparent"].split("-")[1] == trace_id


_WORKER = """
from shared.observability import metrics
metrics.observe_request("svc_mp", "GET", "/x/{id}", 200, 0.01)
metrics.pkh_request("svc_mp", "DONE")
"""


def test_multiprocess_mode_sums_the_worker_processes(tmp_path: Path) -> None:
    """Several uvicorn workers of one service: a scrape answered by any of them counts every process."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for _ in range(3):
        subprocess.run([sys.executable, "-c", _WORKER], env=env, check=True)
    scrape = subprocess.run([sys.executable, "-c", "import sys; from shared.observability import metrics; "
                             "sys.stdout.write(metrics.exposition(None).decode())"],
                            env=env, check=True, capture_output=True, text=True).stdout
    assert 'jembatan_http_requests_total{method="GET",route="/x/{id}",service="svc_mp",status="200"} 3.0' in scrape
    assert 'jembatan_gateway_pkh_requests_total{service="svc_mp",status="DONE"} 3.0' in scrape


def test_the_span_route_lookup_answers_as_the_instrumentations_own_for_every_route_of_every_service() -> None:
    """``tracing._route_details`` (regexes first) stands in for the FastAPI instrumentation's lookup: the same
    template for every route of the four services, by every method, and for paths no route serves."""
    import importlib
    import re as regex

    from opentelemetry.instrumentation import fastapi as otel_fastapi

    asked = 0
    for service in ("emis_gateway", "dapodik_gateway", "sync_hub", "kemensos_mock"):
        app = importlib.import_module(f"services.{service}.main").create_app()
        original = tracing._library_route_details or otel_fastapi._get_route_details
        assert original is not tracing._route_details
        templates = list(app.openapi()["paths"]) + [getattr(r, "path", "/") for r in app.routes]
        paths = {regex.sub(r"\{[^}]+\}", value, t) for t in templates
                 for value in ("abc", "0b3c2f8e-1d2a-4c5b-9e7f-000000000001", "12")}
        paths |= {"/", "/nope", "/api/v1", "/api/v1/siswa/x/pkh-request/more", "/console/static/app.js", "/docs/x"}
        for path in sorted(paths):
            for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"):
                scope = {"type": "http", "method": method, "path": path, "root_path": "", "app": app,
                         "headers": [], "query_string": b""}
                assert tracing._route_details(scope) == original(scope), (service, method, path)
                asked += 1
    assert asked > 500
