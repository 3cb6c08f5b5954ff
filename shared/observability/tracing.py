"""OpenTelemetry traces: a server span for every request (FastAPI instrumentation, named by route template), a
client span for every outbound call (httpx instrumentation), and W3C ``traceparent`` carried by
``shared.clients`` so one "Request Data PKH" is one trace from the gateway to the hub.

Spans are always made while telemetry is on (their ids go into the log lines, so one request can be followed
across services by its ``trace_id`` even with no tracing backend); they are *exported* only when the standard
OpenTelemetry environment asks for it, and never by default:

* ``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` set: OTLP over HTTP/protobuf (the
  exporter reads the rest of ``OTEL_EXPORTER_OTLP_*`` itself: headers, timeout, compression);
* ``OTEL_TRACES_EXPORTER=console``: spans printed to stdout; ``none`` turns export off even with an endpoint;
* ``OTEL_SDK_DISABLED=true``: no spans at all; ``OTEL_TRACES_SAMPLER`` / ``OTEL_TRACES_SAMPLER_ARG`` and
  ``OTEL_RESOURCE_ATTRIBUTES`` / ``OTEL_SERVICE_NAME`` are honoured by the SDK as usual.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

from shared.observability import context

_lock = threading.Lock()
_providers: dict[str, TracerProvider] = {}
_extra: list[SpanProcessor] = []  # processors every provider gets (tests: an in-memory exporter)
_httpx_done = False
_library_route_details: Any = None  # the instrumentation's own route lookup, replaced by ``_route_details``

# requests that are not traced: probes and scrapes (they would drown the traces that matter)
EXCLUDED_URLS = "/health,/ready,/metrics"


def disabled() -> bool:
    return os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"


def _exporter_processor() -> SpanProcessor | None:
    chosen = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if chosen == "none":
        return None
    if chosen == "console":
        return BatchSpanProcessor(ConsoleSpanExporter())
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return BatchSpanProcessor(OTLPSpanExporter())
    return None


def provider(service: str) -> TracerProvider:
    """The service's tracer provider (one per service name: in-process tests run several services in one
    process, and each span must say which service made it). The first one made is also the global one."""
    with _lock:
        tp = _providers.get(service)
        if tp is None:
            tp = TracerProvider(resource=Resource.create({"service.name": service}))
            exporting = _exporter_processor()
            if exporting is not None:
                tp.add_span_processor(exporting)
            for processor in _extra:
                tp.add_span_processor(processor)
            if not _providers:
                trace.set_tracer_provider(tp)
            _providers[service] = tp
        return tp


def add_span_processor(processor: SpanProcessor) -> None:
    """Give every provider, made or to be made, this processor (tests: ``SimpleSpanProcessor(InMemory...)``)."""
    with _lock:
        _extra.append(processor)
        for tp in _providers.values():
            tp.add_span_processor(processor)


class _RouteIndex:
    """The app's matchable routes (as the FastAPI instrumentation flattens them), each with the path regex that
    decides it does not match a request, when it has one that does."""

    def __init__(self, app: Any, count: int) -> None:
        from fastapi.routing import APIRoute, RouteContext
        from opentelemetry.instrumentation.fastapi import _flatten_routes
        from starlette.routing import Route

        self.count = count  # the app's routes when this was built (a route added later rebuilds it)
        self.routes: list[tuple[Any, Any]] = []
        for candidate in _flatten_routes(app.routes):
            target = candidate._effective_route if isinstance(candidate, RouteContext) else candidate
            regex = None
            # both answer NONE for an HTTP request exactly when their path regex does not match its path
            if isinstance(target, Route) or (type(target).__name__ == "_EffectiveRouteContext"
                                             and isinstance(getattr(target, "original_route", None), APIRoute)):
                regex = getattr(target, "path_regex", None)
            self.routes.append((candidate, regex))


def _route_details(scope: Any) -> str | None:
    """What ``opentelemetry.instrumentation.fastapi._get_route_details`` answers (the template of the first route
    that matches the request fully, else of the last that matched its path only), without asking every route:
    that asks each of the app's ~50 routes to match (parameters converted, a child scope built), ~5 % of a
    gateway's CPU per "Request Data PKH" press. Here a route whose path regex does not match is passed over by
    the regex alone; the one or two left are asked as the instrumentation asks them. The same answer for every
    route of every service: ``shared/tests/test_observability.py``."""
    from starlette.routing import Match, Route, get_route_path

    app = scope["app"]
    count = len(app.routes)
    index = getattr(app.state, "_otel_route_index", None)
    if index is None or index.count != count:
        index = app.state._otel_route_index = _RouteIndex(app, count)
    http = scope.get("type") == "http"
    path = get_route_path(scope) if http else None
    route: str | None = None
    for candidate, regex in index.routes:
        if http and regex is not None and not regex.match(path):
            continue
        match, _ = Route.matches(candidate, scope) if isinstance(candidate, Route) else candidate.matches(scope)
        if match == Match.FULL:
            try:
                route = candidate.path
            except AttributeError:
                route = scope.get("path")
            break
        if match == Match.PARTIAL:
            route = candidate.path
    return route


def instrument_app(app: Any, service: str) -> None:
    """Server spans for the app's requests; client spans (and ``traceparent``) for every httpx call made in
    this process. The span's route is found by ``_route_details`` (the instrumentation's own lookup asks every
    route to match each request)."""
    from opentelemetry.instrumentation import fastapi as otel_fastapi
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    # read by the instrumentation's ``_get_default_span_details`` (the server span's name and http.route)
    global _library_route_details
    if otel_fastapi._get_route_details is not _route_details:  # type: ignore[attr-defined]
        _library_route_details = otel_fastapi._get_route_details  # type: ignore[attr-defined]  # (tests compare)
        otel_fastapi._get_route_details = _route_details  # type: ignore[attr-defined]
    tp = provider(service)
    # no internal spans for each ASGI send/receive: three spans a request that say nothing the server span does not
    FastAPIInstrumentor.instrument_app(app, tracer_provider=tp, excluded_urls=EXCLUDED_URLS,
                                       exclude_spans=["receive", "send"])
    instrument_process(service)


def instrument_process(service: str) -> None:
    """Client spans (and ``traceparent``) for every httpx call made in this process; the process's global
    tracer provider is the service's. A process that serves no HTTP (the hub's ``worker``) calls only this."""
    global _httpx_done
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    tp = provider(service)
    with _lock:
        if not _httpx_done:
            HTTPXClientInstrumentor().instrument(tracer_provider=tp)
            _httpx_done = True


@contextmanager
def job_span(name: str, **attributes: str) -> Iterator[None]:
    """A background job (a sync run's plan, a unit) as the root span of its own trace: the calls it makes to
    the gateways and the registry are its children. Ids only in attributes (run and unit ids), never personal
    data. No span when this process has no tracer provider (telemetry off)."""
    tracer = trace.get_tracer("jembatan.jobs")
    with tracer.start_as_current_span(name, context=Context(), attributes=attributes):
        yield


def outbound_headers() -> dict[str, str]:
    """Headers a service-to-service call carries: the current trace (W3C ``traceparent``/``tracestate``) and
    the request id of the request being served. Empty outside any request and span."""
    headers: dict[str, str] = {}
    propagate.inject(headers)
    rid = context.current()
    if rid:
        headers[context.HEADER] = rid
    return headers


def current_ids() -> tuple[str | None, str | None]:
    """(trace id, span id) of the current span, as 32 / 16 hex digits; (None, None) outside any span."""
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None, None
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")
