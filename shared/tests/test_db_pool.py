"""``shared.db.make_engine`` on PostgreSQL: a pooled connection the server has closed is replaced at checkout
(looked at without a round trip), so the next request never sees it."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from shared.db import make_engine
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
