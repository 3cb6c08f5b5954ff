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


def instrument_app(app: Any, service: str) -> None:
    """Server spans for the app's requests; client spans (and ``traceparent``) for every httpx call made in
    this process."""
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

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
