"""Traces of one "Request Data PKH", in process, with OpenTelemetry's in-memory exporter: the operator's call to
the EMIS gateway, the gateway's call to the hub (``shared.clients`` carries W3C ``traceparent``) and the hub's
answer are spans of ONE trace, the hub's server span a descendant of the gateway's; span names are route
templates, never a path holding an id. The same check moves the metrics of both services.

The system (the four apps wired in process) is the one of ``test_emis_pkh_in_process``."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator, Sequence

import pytest
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.trace import SpanKind
from prometheus_client import REGISTRY

from shared.observability import context, tracing
from tests.test_emis_pkh_in_process import Switch, System, loaded, system

__all__ = ["loaded", "system"]


class Recorder(SpanProcessor):
    """An in-memory exporter that records only while a test asks (the processor stays on the providers)."""

    def __init__(self) -> None:
        self.on, self.spans, self._lock = False, [], threading.Lock()
        self.spans: list[ReadableSpan]

    def on_end(self, span: ReadableSpan) -> None:
        if self.on:
            with self._lock:
                self.spans.append(span)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


_RECORDER = Recorder()
tracing.add_span_processor(_RECORDER)


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    _RECORDER.spans, _RECORDER.on = [], True
    try:
        yield _RECORDER
    finally:
        _RECORDER.on = False


def service_of(span: ReadableSpan) -> str:
    return str(span.resource.attributes.get("service.name"))


def ancestors(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> list[ReadableSpan]:
    out = []
    while span.parent is not None and span.parent.span_id in by_id:
        span = by_id[span.parent.span_id]
        out.append(span)
    return out


def servers(spans: Sequence[ReadableSpan], service: str) -> list[ReadableSpan]:
    return [s for s in spans if s.kind is SpanKind.SERVER and service_of(s) == service]


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_one_check_is_one_trace_from_the_gateway_to_the_hub(system: System, recorder: Recorder,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    # in process the hub's app would run inside the gateway's context and inherit its span; with a fresh context
    # (as in another process) the hub can join the trace only through the traceparent header the client sent
    switch = system.hub
    monkeypatch.setattr(switch, "handle_request",
                        lambda request: contextvars.Context().run(Switch.handle_request, switch, request))
    op = system.operator
    student = next(s for s in op.iter_students() if s.nik or s.nik_ibu)
    done_before = sample("jembatan_gateway_pkh_requests_total", service="emis_gateway", status="DONE")
    checks_before = sample("jembatan_http_requests_total", service="sync_hub", method="POST",
                           route="/api/v1/checks", status="200")
    token = context.request_id.set("in-process-rid-1")  # the operator's client passes it on
    try:
        answer = op.request_pkh(student.siswa_id)
    finally:
        context.request_id.reset(token)
    assert answer.status.value == "DONE"

    spans = recorder.spans
    names = {s.name for s in spans}
    assert all(student.siswa_id not in name for name in names)  # span names are templates: no id in them
    [gateway] = [s for s in servers(spans, "emis_gateway") if s.name == "POST /api/v1/siswa/{siswa_id}/pkh-request"]
    [hub] = servers(spans, "sync_hub")  # a SERVER span with a remote parent: the context came by the header
    assert hub.name == "POST /api/v1/checks"
    trace_id = gateway.context.trace_id
    assert hub.context.trace_id == trace_id
    by_id = {s.context.span_id: s for s in spans}
    assert hub.parent is not None and hub.parent.is_remote
    assert gateway in ancestors(hub, by_id)  # the hub's span descends from the gateway's (traceparent)
    # every span the check made, in both services, is of that one trace
    assert all(s.context.trace_id == trace_id for s in spans if service_of(s) == "sync_hub")
    # (on a real socket the httpx instrumentation adds the gateway's CLIENT span between the two: the in-process
    # transport here is not httpx's, so shared.clients' own traceparent is what carried the trace)

    assert sample("jembatan_gateway_pkh_requests_total", service="emis_gateway", status="DONE") == done_before + 1
    assert sample("jembatan_http_requests_total", service="sync_hub", method="POST", route="/api/v1/checks",
                  status="200") == checks_before + 1


def test_a_check_while_the_hub_is_down_is_counted_pending_and_traced_without_the_hub(
        system: System, recorder: Recorder) -> None:
    op = system.operator
    student = next(s for s in op.iter_students() if s.nik or s.nik_ibu)
    pending_before = sample("jembatan_gateway_pkh_requests_total", service="emis_gateway", status="PENDING")
    system.hub.down = True
    try:
        answer = op.request_pkh(student.siswa_id)
    finally:
        system.hub.down = False
    assert answer.status.value == "PENDING"
    assert sample("jembatan_gateway_pkh_requests_total", service="emis_gateway", status="PENDING") == \
        pending_before + 1
    [gateway] = [s for s in servers(recorder.spans, "emis_gateway") if s.name.endswith("/pkh-request")]
    assert not servers(recorder.spans, "sync_hub")
    client = [s for s in recorder.spans if s.kind is SpanKind.CLIENT and s.context.trace_id == gateway.context.trace_id]
    assert all(service_of(s) == "emis_gateway" for s in client)


def test_the_metrics_directory_made_for_several_workers_is_removed_when_the_server_ends(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """``prepare_multiprocess`` makes a fresh directory for the workers' metric files; the process that made it
    removes it when it ends, instead of leaving one per start in the temporary directory."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = ("import os; from shared.observability.metrics import MULTIPROC_ENV, prepare_multiprocess; "
              "prepare_multiprocess(2); d = os.environ[MULTIPROC_ENV]; open(os.path.join(d, 'x.db'), 'w').close(); "
              "print(d)")
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    made = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, env=env,
                          cwd=Path(__file__).resolve().parents[1]).stdout.strip()
    assert made and "jembatan-metrics-" in made and not Path(made).exists()
