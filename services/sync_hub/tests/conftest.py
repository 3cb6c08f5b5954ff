"""Fixtures the hub's tests share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from services.sync_hub.main import MIGRATIONS
from shared.db import make_engine, migrate


def _migrated(url: str) -> Iterator[Engine]:
    migrate(MIGRATIONS, url)
    e = make_engine(url)
    yield e
    e.dispose()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """The hub's database, migrated to head (SQLite, and PostgreSQL where ``db_url`` is)."""
    yield from _migrated(db_url)


@pytest.fixture
def pg_engine(postgres_url: str) -> Iterator[Engine]:
    """The hub's database on PostgreSQL alone, migrated to head: for what only PostgreSQL does (row locks between
    sessions; SQLite's writers hold the whole database)."""
    yield from _migrated(postgres_url)
