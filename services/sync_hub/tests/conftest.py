"""Fixtures the hub's tests share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from services.sync_hub.main import MIGRATIONS
from shared.db import make_engine, migrate


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """The hub's database, migrated to head (SQLite, and PostgreSQL where ``db_url`` is)."""
    migrate(MIGRATIONS, db_url)
    e = make_engine(db_url)
    yield e
    e.dispose()
