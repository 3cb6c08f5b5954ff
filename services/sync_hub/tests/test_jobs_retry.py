"""A job whose database could not answer (a lost connection: a restart, a failover; a deadlock chosen against it) is
tried again later, like a job whose upstream could not be reached; any other error is a bug and ends it FAILED.
Before, a verification unit whose connection the server ended failed its run ("internal error: OperationalError")."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from services.sync_hub.config import Settings
from services.sync_hub.jobs import tasks
from services.sync_hub.jobs.context import JobContext
from services.sync_hub.runs.models import SyncRunRow, SyncUnitRow
from shared.db import database_unavailable, session_scope
from shared.http import Unavailable

T0 = datetime(2026, 12, 5, tzinfo=UTC)
ENDED = sa.exc.OperationalError("SELECT 1", {}, psycopg.errors.AdminShutdown(
    "terminating connection due to administrator command"))


def test_what_counts_as_the_database_being_away() -> None:
    assert "AdminShutdown" in (database_unavailable(ENDED) or "")
    deadlock = sa.exc.OperationalError("UPDATE x", {}, psycopg.errors.DeadlockDetected("deadlock detected"))
    assert database_unavailable(deadlock)
    assert database_unavailable(sa.exc.TimeoutError("QueuePool limit of size 5 overflow 5 reached"))
    assert database_unavailable(sa.exc.OperationalError("BEGIN", {}, sqlite3.OperationalError("database is locked")))
    wrapped = RuntimeError("while pushing")
    wrapped.__cause__ = ENDED
    assert database_unavailable(wrapped)
    # bugs: the database answered, and said no
    unique = sa.exc.IntegrityError("INSERT", {}, psycopg.errors.UniqueViolation("duplicate key value (nik)=(3201...)"))
    assert database_unavailable(unique) is None
    assert database_unavailable(sa.exc.OperationalError("SELECT", {}, sqlite3.OperationalError("no such table: x")))\
        is None
    assert database_unavailable(ValueError("no")) is None
    # the words carry no statement and no parameters
    leaky = sa.exc.OperationalError("SELECT * FROM anggota WHERE nik = %(nik)s", {"nik": "3201010101010001"},
                                    psycopg.OperationalError("server closed the connection unexpectedly\nDETAIL: x"))
    assert "3201" not in (database_unavailable(leaky) or "x3201")


@pytest.fixture
def ctx(engine: Engine) -> JobContext:
    with session_scope(engine) as session:
        session.add(SyncRunRow(id="run-1", status="RUNNING", trigger="test", systems=["dapodik"], created_at=T0,
                               started_at=T0, full=True, registry_seq=1))
        session.flush()
        for unit, region in (("u-1", "32"), ("u-2", "33")):  # u-2 keeps the run open whatever u-1 does
            session.add(SyncUnitRow(id=unit, sync_run_id="run-1", system="dapodik", region=region, status="RUNNING",
                                    created_at=T0, started_at=T0, attempts=1))
    return JobContext(engine, None, Settings(database_url=str(engine.url)))  # type: ignore[arg-type]


def unit(engine: Engine) -> SyncUnitRow:
    with session_scope(engine) as session:
        row = session.get(SyncUnitRow, "u-1")
        assert row is not None
        return row


@pytest.mark.parametrize("error", [ENDED, Unavailable("the gateway did not answer")], ids=["database", "upstream"])
def test_an_error_that_may_pass_is_tried_again_and_given_up_on_at_the_last_attempt(
        ctx: JobContext, monkeypatch: pytest.MonkeyPatch, error: Exception) -> None:
    def work(_ctx: JobContext, _unit_id: str) -> None:
        raise error

    monkeypatch.setattr(tasks.unit, "work", work)
    with pytest.raises(tasks.Retry):
        tasks.work_unit(ctx, "u-1", last_attempt=False)
    waiting = unit(ctx.db)
    assert waiting.status == "WAITING" and waiting.errors and "attempt 1:" in waiting.errors[-1]
    tasks.work_unit(ctx, "u-1", last_attempt=True)  # no Retry: it ends
    failed = unit(ctx.db)
    assert failed.status == "FAILED" and failed.errors[-1].startswith("gave up: ")


def test_a_bug_ends_the_unit_at_once(ctx: JobContext, monkeypatch: pytest.MonkeyPatch) -> None:
    def work(_ctx: JobContext, _unit_id: str) -> None:
        raise sa.exc.IntegrityError("INSERT", {}, psycopg.errors.UniqueViolation("duplicate key"))

    monkeypatch.setattr(tasks.unit, "work", work)
    tasks.work_unit(ctx, "u-1", last_attempt=False)  # no Retry
    failed = unit(ctx.db)
    assert failed.status == "FAILED" and failed.errors[-1].startswith("internal error: IntegrityError")
