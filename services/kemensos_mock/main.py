"""App factory and lifespan of kemensos_mock."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
from fastapi import FastAPI

from services.kemensos_mock.changes import router as changes
from services.kemensos_mock.config import Settings, get_settings
from services.kemensos_mock.deps import every_token
from services.kemensos_mock.education import router as education
from services.kemensos_mock.faults import router as faults
from services.kemensos_mock.faults.service import FaultInjector, FaultMiddleware
from services.kemensos_mock.identity import router as identity
from services.kemensos_mock.kip import router as kip
from services.kemensos_mock.ratelimit import router as ratelimit
from services.kemensos_mock.ratelimit.service import RateLimiter
from services.kemensos_mock.registry import router as registry
from shared.app import create_service_app
from shared.db import make_engine, migrate
from shared.logging import configure

log = logging.getLogger("jembatan.kemensos")

SERVICE = "kemensos_mock"
MIGRATIONS = Path(__file__).parent / "migrations"

DESCRIPTION = """\
A stand-in for the Kemensos social-welfare registry (SIKS-NG / DTSEN): families (Kartu Keluarga) with
their members, desil, DTSEN quarter and KK history; PKH, BPNT/Sembako and PBI-JK memberships with periods;
KIP card issuances; education verifications received from the hub.

* `POST /api/v1/nik/lookup`: up to 1,000 NIKs per call, answered in request order.
* `POST /api/v1/identity/search`: up to 1,000 name + birth + region queries, a short ranked list each.
* `POST /api/v1/keluarga/search`: one family (the KK number in the body: no NIK or KK ever goes in a URL).
* `GET /api/v1/changes`: families (with members) and PKH memberships in change order; resume with the cursor.
* `PUT /api/v1/education-verification` (`/item` for one): verifications from the hub with monthly attendance,
  idempotent per (child, period), history kept; `POST .../search` (one child, NIK in the body) and
  `POST .../family-commitment` (PKH education commitment per family, KK numbers in the body).
* `GET /api/v1/kip`: KIP issuances, keyset-paged.
* `GET /api/v1/referensi/pkh`: PKH caps, stages and dated yearly amounts.
* `/api/v1/admin/...`: registry edits, fault injection (latency, 5xx, 429, timeouts, slow drip, feed
  duplicates and re-deliveries; seeded, off by default) and per-client rate limits.

Every `/api/v1` call needs `Authorization: Bearer <token>` (tokens from `KEMENSOS_API_TOKENS`); the admin
routes take `KEMENSOS_ADMIN_TOKEN` instead. A client over its rate limit gets 429 with `Retry-After`. Every
change takes the next number of one registry-wide sequence; answers carry it as `observed_seq`. Errors have
the body `{"error", "detail", "errors": [{"field", "rule", "message"}]}`; bad input to any route is a 422
naming the field and the rule.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure(SERVICE, settings.log_level, settings.log_format)
        if settings.auto_migrate:
            await anyio.to_thread.run_sync(migrate, MIGRATIONS, settings.database_url)
        engine = make_engine(settings.database_url)
        app.state.engine = engine
        app.state.settings = settings
        app.state.faults = FaultInjector(settings.faults)
        app.state.limiter = RateLimiter(settings.rate_limits)
        if settings.faults.active:
            log.warning("fault injection on from start-up: %s", settings.faults.model_dump_json())
        try:
            yield
        finally:
            engine.dispose()

    app = create_service_app(
        telemetry=settings.telemetry,
        name=SERVICE,
        title="Kemensos registry (mock)",
        description=DESCRIPTION,
        routers=[registry.router, identity.router, kip.router, changes.router, education.router,
                 registry.admin_router, kip.admin_router,
                 faults.router, ratelimit.router],
        lifespan=lifespan,
        credentials=every_token,
    )
    app.add_middleware(FaultMiddleware)  # X-Injected-Fault header and slow drip (inert while faults are off)
    return app
