"""The Alembic revisions build exactly the tables the models describe (SQLite and PostgreSQL)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import services.emis_gateway.madrasah.models
import services.emis_gateway.results.models
import services.emis_gateway.siswa.models  # noqa: F401
from services.emis_gateway.base import EmisTable
from services.emis_gateway.main import MIGRATIONS
from shared.db import make_engine, migrate


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
    assert {"madrasah", "siswa", "field_provenance", "field_history", "field_observation", "alembic_version"} <= tables


def test_tables_live_in_the_services_own_metadata() -> None:
    assert set(EmisTable.metadata.tables) == {"madrasah", "siswa", "field_provenance", "field_history",
                                             "field_observation"}
