"""A request whose database connection is lost (a restart, a failover, an administrator ending it) is a 503 with
``Retry-After``, as for a failing upstream, not a 500; the next request gets a new connection. A database error of
another kind (a constraint the code did not expect) stays a 500: a bug."""

from __future__ import annotations

import threading
import time
import warnings

import psycopg
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from shared.db import make_engine
from shared.errors import install_error_handlers
from shared.testing import PG_ADMIN_URL


def app_on(engine: sa.Engine) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/slow")
    def slow() -> dict[str, int]:
        with engine.connect() as conn:
            return {"slept": int(conn.execute(sa.text("SELECT 1 FROM pg_sleep(30)")).scalar_one())}

    @app.get("/fast")
    def fast() -> dict[str, int]:
        with engine.connect() as conn:
            return {"one": int(conn.execute(sa.text("SELECT 1")).scalar_one())}

    @app.get("/bug")
    def bug() -> None:
        raise sa.exc.IntegrityError("INSERT", {}, psycopg.errors.UniqueViolation("duplicate key"))

    return app


def end_the_sleeper(database: str) -> None:
    """As a failover or an administrator would: end the connection that is sleeping, once it is."""
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            for _ in range(400):
                pids = conn.execute(sa.text("SELECT pid FROM pg_stat_activity WHERE datname = :d "
                                            "AND query LIKE '%pg_sleep(30)%' AND pid <> pg_backend_pid()"),
                                    {"d": database}).scalars().all()
                if pids:
                    conn.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pids[0]})
                    return
                time.sleep(0.05)
    finally:
        admin.dispose()


@pytest.mark.postgres
def test_a_lost_database_connection_is_a_503_and_the_next_request_is_served(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    try:
        client = TestClient(app_on(engine), raise_server_exceptions=False)
        ender = threading.Thread(target=end_the_sleeper, args=(sa.engine.make_url(postgres_url).database,))
        ender.start()
        lost = client.get("/slow")
        ender.join()
        assert lost.status_code == 503, lost.text
        assert lost.headers["Retry-After"] == "1"
        body = lost.json()
        assert (body["error"], body["type"]) == ("DatabaseUnavailable", "urn:jembatan:problem:database-unavailable")
        assert client.get("/fast").json() == {"one": 1}
    finally:
        engine.dispose()


def test_a_database_error_of_another_kind_is_a_500() -> None:
    client = TestClient(app_on(make_engine("sqlite://")), raise_server_exceptions=False)
    answer = client.get("/bug")
    assert answer.status_code == 500 and answer.json()["error"] == "InternalError"
