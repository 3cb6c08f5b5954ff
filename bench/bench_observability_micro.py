"""CPU cost of observability per request, in process (robust to a shared machine: CPU time, not wall time).

    .venv/bin/python bench/bench_observability_micro.py [--requests 3000] [--repeat 5]

One app made by the services' factory (``shared.app.create_service_app``) with one route that does what a
small route does (reads a path parameter, logs one INFO line, answers JSON), called through Starlette's
TestClient with a bearer token: telemetry on (RED metrics, an OpenTelemetry server span, no exporter, JSON log
lines at INFO with request and trace ids) and off (no metrics, no span, text log lines), alternated
``--repeat`` times. Reported: median CPU microseconds per request of this process (client + app) in each mode
and the difference, which is what observability adds to every request whatever the route does. Logs go to
/dev/null (the formatting is measured, not the terminal). No test asserts any figure.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import sqlalchemy as sa
from fastapi import APIRouter, FastAPI
from pydantic import SecretStr

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from shared import logging as jlog
from shared.app import create_service_app

TOKEN = "b" * 24


def make_app(tmp: Path, telemetry: bool) -> FastAPI:
    router = APIRouter()
    log = logging.getLogger("jembatan.bench")

    @router.get("/api/v1/things/{thing_id}")
    def thing(thing_id: str) -> dict[str, str]:
        log.info("thing %s read", thing_id)
        return {"id": thing_id, "status": "ok"}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.engine = sa.create_engine(f"sqlite:///{tmp / 'x.db'}")
        yield

    return create_service_app(name=f"bench_{'on' if telemetry else 'off'}", title="b", description="b",
                              routers=[router], lifespan=lifespan, credentials=lambda _: {"op": SecretStr(TOKEN)},
                              telemetry=telemetry)


def measure(client: TestClient, n: int) -> float:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    t0 = time.process_time()
    for i in range(n):
        r = client.get(f"/api/v1/things/t{i % 100}", headers=headers)
        assert r.status_code == 200
    return (time.process_time() - t0) / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-obs-micro-"))
    devnull = open(os.devnull, "w")  # noqa: SIM115 - open for the whole run
    results: dict[str, list[float]] = {"on": [], "off": []}
    clients = {mode: TestClient(make_app(tmp, mode == "on")) for mode in results}
    for c in clients.values():
        c.__enter__()
    try:
        for _ in range(args.repeat):
            for mode in ("on", "off"):
                jlog.configure("bench", "INFO", "json" if mode == "on" else "text")
                logging.getLogger().handlers[0].stream = devnull  # type: ignore[attr-defined]
                logging.getLogger("httpx").setLevel(logging.WARNING)  # the test client's own line: not the app's
                measure(clients[mode], 200)  # warm
                results[mode].append(measure(clients[mode], args.requests))
    finally:
        for c in clients.values():
            c.__exit__(None, None, None)
    on, off = statistics.median(results["on"]), statistics.median(results["off"])
    print(f"CPU per request, median of {args.repeat} x {args.requests}: off {off:.0f} µs, on {on:.0f} µs, "
          f"observability adds {on - off:.0f} µs ({(on / off - 1) * 100:+.0f} % of this trivial route); "
          f"load average {os.getloadavg()[0]:.1f}")
    print("runs (µs):", {k: [round(v) for v in vs] for k, vs in results.items()})


if __name__ == "__main__":
    main()
