"""The Alembic revisions build exactly the tables the models describe (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from services.emis_gateway.main import MIGRATIONS
from services.emis_gateway.tables import EmisTable
from shared.db import make_engine, migrate

EMIS_TABLES = {"idempotency_key", "madrasah", "siswa", "field_provenance", "field_history", "field_observation",
               "pkh_request", "pkh_request_item", "sync_log", "sync_batch", "kehadiran_siswa"}

pytestmark = pytest.mark.usefixtures("real_migrations")  # these tests check the chain itself: no template


def test_head_matches_the_models(db_url: str) -> None:
    migrate(MIGRATIONS, db_url)
    migrate(MIGRATIONS, db_url)  # a second run is a no-op
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}),
                                    EmisTable.metadata)
            tables = set(sa.inspect(conn).get_table_names())
    finally:
        engine.dispose()
    assert diff == []
    assert set(EMIS_TABLES) | {"alembic_version"} == tables


def test_tables_live_in_the_services_own_metadata() -> None:
    assert set(EmisTable.metadata.tables) == EMIS_TABLES
