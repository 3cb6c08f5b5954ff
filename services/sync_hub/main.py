"""sync_hub: matches students to registry families by NIK and writes PKH / KIP back with provenance."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI

from services.sync_hub import console
from services.sync_hub.audit.router import router as audit_router
from services.sync_hub.checks.router import router as checks_router
from services.sync_hub.checks.service import Checks
from services.sync_hub.config import Settings, get_settings
from services.sync_hub.db import IDEMPOTENCY
from services.sync_hub.deps import HubAuthenticator, authenticate, enforce_declared, every_token, undeclared
from services.sync_hub.jobs.context import JobContext
from services.sync_hub.jobs.queue import make_queue
from services.sync_hub.jobs.worker import InProcessWorker
from services.sync_hub.ledger import keys as ledger_keys
from services.sync_hub.ledger.router import router as ledger_router
from services.sync_hub.ops.metrics import HubCollector, replica_ready
from services.sync_hub.provenance.router import router as provenance_router
from services.sync_hub.replica import ranged
from services.sync_hub.replica.follower import ReplicaFollower
from services.sync_hub.review.router import router as review_router
from services.sync_hub.risk.router import router as risk_router
from services.sync_hub.runs import repository as runs_repository
from services.sync_hub.runs.router import router as runs_router
from services.sync_hub.runs.service import RunQueue
from services.sync_hub.upstreams import Upstreams, make_upstreams
from services.sync_hub.verification.router import router as verification_router
from shared import logging as jlog
from shared import regions
from shared.app import build_routes, create_service_app
from shared.db import SQLITE_IMMEDIATE, make_engine, migrate
from shared.oidc import JwtVerifier, LocalIssuer

log = logging.getLogger("jembatan.hub")

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: Settings | None = None, upstreams: Upstreams | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        jlog.configure("sync_hub", settings.log_level, settings.log_format)
        regions.load()  # a check's NIK rules read them: not on the first operator's press
        app.state.authenticator = make_authenticator(settings)
        if settings.auto_migrate:
            migrate(MIGRATIONS, settings.database_url)
        base = make_engine(settings.database_url)
        # On SQLite every hub transaction begins IMMEDIATE (takes the write lock at BEGIN): the run, the
        # replica follower and the checks write concurrently, and a deferred transaction that read before
        # another one committed could not write any more ("database is locked", no waiting). Checks read their
        # slice through ``base`` (snapshots, concurrent) and write through ``engine``. No effect on PostgreSQL.
        engine = base.execution_options(**{SQLITE_IMMEDIATE: True})
        ups = upstreams or make_upstreams(settings)
        jobs_ctx = JobContext(engine, ups, settings)
        jobs = make_queue(jobs_ctx)
        queue = RunQueue(engine, jobs)
        jobs.start()
        worker = InProcessWorker(JobContext(engine, ups, settings)) if (
            settings.in_process_worker and engine.dialect.name == "postgresql") else None
        if worker is not None:
            worker.start()
        app.state.settings, app.state.engine, app.state.runs = settings, engine, queue
        app.state.reader = base  # routes that only read (``deps.ReadSessionDep``): deferred BEGIN on SQLite
        # the ledger's signing key: made now on first start of the embedded default, refused when a set path is missing
        signer = ledger_keys.signer(settings.ledger_key_file, settings.database_url)
        app.state.checks = Checks(base, signer, settings.ledger_checkpoint_every)
        follower = None
        if settings.replica_follow_seconds > 0:
            # the pages it applies count in the reading of a run being planned (a first load, mostly)
            # a first load is read as ranges, each a job (``replica.ranged``); the follower reads those nobody holds
            follower = ReplicaFollower(engine, ups.kemensos, settings.replica_follow_seconds,
                                       on_page=runs_repository.add_registry_read,
                                       load=ranged.load_plan(settings, jobs_ctx.defer_registry_ranges))
            follower.start()
        try:
            yield
        finally:
            if follower is not None:
                follower.stop()
            if worker is not None:
                worker.stop()
            queue.shutdown()
            if upstreams is None:
                ups.close()
            base.dispose()

    app = create_service_app(
        name="sync_hub",
        title="Jembatan sync hub",
        description=(
            "Matches students in EMIS 4.0 and Dapodik to their families in the Kemensos registry by NIK "
            "(verified against identity), pulls PKH and KIP status, writes the results back to both "
            "gateways and records the provenance of every value it writes. Every student ends a run "
            "with an outcome code that says why."
        ),
        routers=[runs_router, checks_router, provenance_router, review_router, verification_router, risk_router,
                 ledger_router, audit_router],
        lifespan=lifespan,
        credentials=every_token,
        scoped=True,
        idempotency_table=IDEMPOTENCY,
        security="A person's OIDC access token (roles viewer, reviewer, admin, auditor) or a gateway's static "
                 "token from `HUB_API_TOKENS`",
        authenticate=console.gate(authenticate),  # the console checks its own (cookie) sign-in
        dependencies=[Depends(enforce_declared)],
        telemetry=settings.telemetry, ready_checks={"replica": replica_ready}, collectors=[HubCollector],
    )
    console.install(app)
    build_routes(app)  # the console's routes too, before any request (shared.app.build_routes)
    for route in undeclared(app):  # deny by default: a route nobody declared roles for stays closed
        log.error("route %s declares no role: every call is answered 403", route)
    return app


def make_authenticator(settings: Settings) -> HubAuthenticator:
    """Machine clients from ``api_tokens``; people's tokens verified against the OIDC issuer's JWKS, or the
    local issuer's (its key made on first use) when no JWKS URL is configured."""
    jwks_url = settings.oidc_jwks_url or LocalIssuer(settings.local_key_dir, settings.oidc_issuer,
                                                     settings.oidc_audience).ensure()
    return HubAuthenticator(settings, JwtVerifier(
        issuer=settings.oidc_issuer, audience=settings.oidc_audience, jwks_url=jwks_url,
        roles_claim=settings.oidc_roles_claim, refetch_seconds=settings.oidc_jwks_refetch_seconds))
