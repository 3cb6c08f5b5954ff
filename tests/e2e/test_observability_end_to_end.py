"""Observability on real sockets: four service processes, one "Request Data PKH" with an ``X-Request-ID``.

The gateway answers with the same request id; the gateway's and the hub's JSON log lines for it carry that
request id and one trace id (the W3C ``traceparent`` the gateway's client sent, so the two processes' lines
join without matching timestamps); no line of any service holds a NIK or KK number in full; ``/ready`` is 200
on every service once the hub's replica is loaded; ``/metrics`` answers without a token, its counters moved
with the check, and it holds no personal data.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from jembatan.stack import SERVICES, Stack
from worldgen.config import WorldConfig
from worldgen.generate import generate_world

pytestmark = pytest.mark.e2e
SIXTEEN_DIGITS = re.compile(r"(?<!\d)\d{16}(?!\d)")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("observability")
    generate_world(WorldConfig(seed=13, n_families=40), root / "world")
    s = Stack.on_free_ports(root, log_level="INFO", extra_env={"sync_hub": {"HUB_REPLICA_FOLLOW_SECONDS": "0.5"}})
    with s.serving(root / "world"):
        yield s


def wait_ready(stack: Stack, timeout: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        answers = {s: httpx.get(f"{stack.url(s)}/ready", timeout=10) for s in SERVICES}
        if all(r.status_code == 200 for r in answers.values()):
            return {s: r.json() for s, r in answers.items()}
        assert time.monotonic() < deadline, {s: r.text for s, r in answers.items()}
        time.sleep(0.3)


def log_lines(stack: Stack, service: str) -> list[dict[str, Any]]:
    lines = []
    for raw in (stack.workdir / "logs" / f"{service}.log").read_text().splitlines():
        if raw.startswith("{"):
            lines.append(json.loads(raw))
    return lines


def metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_one_check_is_followed_across_processes_by_its_request_and_trace_ids(stack: Stack) -> None:
    ready = wait_ready(stack)
    assert ready["sync_hub"]["checks"] == {"database": "ok", "replica": "ok"}
    op = {"Authorization": f"Bearer {stack.creds.operator}"}
    gateway = stack.url("emis_gateway")
    students = httpx.get(f"{gateway}/api/v1/siswa", headers=op, params={"limit": 50}, timeout=30).json()["items"]
    student = next(s for s in students if s.get("nik") or s.get("nik_ibu"))
    before = httpx.get(f"{gateway}/metrics", timeout=10).text
    hub_before = httpx.get(f"{stack.url('sync_hub')}/metrics", timeout=10).text

    rid = "e2e-obs-0001"
    r = httpx.post(f"{gateway}/api/v1/siswa/{student['siswa_id']}/pkh-request", headers={**op, "X-Request-ID": rid},
                   timeout=60)
    assert r.status_code == 200 and r.json()["status"] == "DONE", r.text
    assert r.headers["x-request-id"] == rid
    made = httpx.get(f"{gateway}/health").headers["x-request-id"]  # none sent: one is made
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    refused = httpx.get(f"{gateway}/health", headers={"X-Request-ID": "3201012345670001"}).headers["x-request-id"]
    assert refused != "3201012345670001"  # an id that could carry a NIK is not taken (nor logged)

    time.sleep(0.5)  # the access lines are written as the answers leave
    gw = [x for x in log_lines(stack, "emis_gateway") if x.get("request_id") == rid]
    hub = [x for x in log_lines(stack, "sync_hub") if x.get("request_id") == rid]
    gw_access = [x for x in gw if x["logger"] == "jembatan.access"]
    hub_access = [x for x in hub if x["logger"] == "jembatan.access"]
    assert [x["route"] for x in gw_access] == ["/api/v1/siswa/{siswa_id}/pkh-request"], gw
    assert [x["route"] for x in hub_access] == ["/api/v1/checks"], hub
    assert gw_access[0]["service"] == "emis_gateway" and hub_access[0]["service"] == "sync_hub"
    trace_id = gw_access[0]["trace_id"]
    assert re.fullmatch(r"[0-9a-f]{32}", trace_id)
    assert hub_access[0]["trace_id"] == trace_id  # one trace across the two processes
    assert hub_access[0]["span_id"] != gw_access[0]["span_id"]

    for service in SERVICES:  # every line is JSON with the service's name; no NIK or KK number in full
        text = (stack.workdir / "logs" / f"{service}.log").read_text()
        assert not SIXTEEN_DIGITS.search(text), f"{service} logged a NIK or KK number in full"
        lines = log_lines(stack, service)
        assert lines and {x["service"] for x in lines} <= {service, f"{service}.worker"}
        assert student["nama"] not in text

    after = httpx.get(f"{gateway}/metrics", timeout=10).text  # no token needed
    assert metric(after, "jembatan_gateway_pkh_requests_total", status="DONE") == \
        metric(before, "jembatan_gateway_pkh_requests_total", status="DONE") + 1
    route = 'route="/api/v1/siswa/{siswa_id}/pkh-request"'
    assert route in after and student["siswa_id"] not in after  # the template, never the path
    hub_after = httpx.get(f"{stack.url('sync_hub')}/metrics", timeout=10).text
    assert metric(hub_after, "jembatan_http_requests_total", route="/api/v1/checks", status="200") == \
        metric(hub_before, "jembatan_http_requests_total", route="/api/v1/checks", status="200") + 1
    assert metric(hub_after, "jembatan_hub_replica_loaded") == 1
    deadline = time.monotonic() + 30  # the database gauges are read again once their cache (5 s) expires
    while metric(hub_after, "jembatan_hub_checked_students_last_hour", system="emis") < 1:
        assert time.monotonic() < deadline, "the check's outcome never reached the hub's gauges"
        time.sleep(1)
        hub_after = httpx.get(f"{stack.url('sync_hub')}/metrics", timeout=10).text
    for service in SERVICES:
        text = httpx.get(f"{stack.url(service)}/metrics", timeout=10).text
        assert "jembatan_http_requests_total" in text
        labels = " ".join(re.findall(r"\{[^}]*\}", text))  # sample values are floats with many digits: labels only
        assert not SIXTEEN_DIGITS.search(labels) and student["nama"] not in text
