"""``shared.db.make_engine`` on PostgreSQL: a pooled connection the server has closed is replaced at checkout
(looked at without a round trip), so the next request never sees it."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from shared.db import make_engine, session_scope, statement_at_a_time
from shared.testing import terminate_all_but


@pytest.mark.postgres
def test_a_checkout_after_the_server_closed_the_pooled_connections_works_without_error(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    try:
        with engine.connect() as a, engine.connect() as b:  # two connections in the pool
            before = {a.execute(sa.text("SELECT pg_backend_pid()")).scalar_one(),
                      b.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()}
        killed = terminate_all_but(sa.engine.make_url(postgres_url).database or "")
        assert before <= set(killed)  # the pool's connections were closed by the server
        for _ in range(3):  # each pooled one in turn, and a new one
            with engine.connect() as conn:
                pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
                assert pid not in before
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_a_healthy_pooled_connection_is_kept(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    try:
        with engine.connect() as conn:
            first = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one() == first
    finally:
        engine.dispose()


def test_statement_at_a_time_is_the_engine_itself_on_sqlite(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{tmp_path}/x.db")
    try:
        assert statement_at_a_time(engine) is engine
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_statement_at_a_time_runs_each_statement_as_its_own_transaction_and_gives_the_pool_back_as_it_was(
        postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    single = statement_at_a_time(engine)
    try:
        assert statement_at_a_time(engine) is single  # made once per engine
        with session_scope(single) as session:
            # no transaction open around a statement: each is its own (and a second one sees no earlier xid)
            assert session.execute(sa.text("SELECT txid_current_if_assigned()")).scalar_one() is None
            assert session.connection().connection.dbapi_connection.autocommit is True
            first = session.execute(sa.text("SELECT txid_current()")).scalar_one()
            second = session.execute(sa.text("SELECT txid_current()")).scalar_one()
            assert second != first
        with session_scope(engine) as session:  # the same pooled connection, in transactions again
            assert session.connection().connection.dbapi_connection.autocommit is False
            first = session.execute(sa.text("SELECT txid_current()")).scalar_one()
            assert session.execute(sa.text("SELECT txid_current()")).scalar_one() == first
    finally:
        engine.dispose()
