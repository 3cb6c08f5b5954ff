"""The hub's Alembic revisions build exactly the tables its models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import warnings

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from services.sync_hub.audit import models as _audit  # noqa: F401
from services.sync_hub.checks import models as _checks  # noqa: F401
from services.sync_hub.db import HubTable
from services.sync_hub.jobs.schema import hub_owns
from services.sync_hub.main import MIGRATIONS
from services.sync_hub.mirror import models as _mirror  # noqa: F401
from services.sync_hub.provenance import models as _provenance  # noqa: F401
from services.sync_hub.replica import models as _replica  # noqa: F401
from services.sync_hub.runs import models as _runs  # noqa: F401
from shared.db import make_engine, migrate


def test_migrations_reach_the_models(db_url: str) -> None:
    migrate(MIGRATIONS, db_url)
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"include_name": hub_owns})
            with warnings.catch_warnings():  # SQLite cannot reflect the ledger's expression index (hash prefix)
                warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based index")
                warnings.filterwarnings("ignore", "autogenerate skipping metadata-specified expression-based index")
                assert compare_metadata(context, HubTable.metadata) == []
            tables = set(sa.inspect(conn).get_table_names())
        assert {"sync_run", "student_outcome", "outbox_item", "provenance", "alembic_version", "student_mirror",
                "feed_state", "mirror_refetch", "sync_unit", "student_status", "replica_touch", "replica_kip",
                "access_log", "access_log_subject", "ledger_verification"} <= tables
        if engine.dialect.name == "postgresql":  # the job queue's schema comes with the hub's migrations
            assert {"procrastinate_jobs", "procrastinate_workers"} <= tables
    finally:
        engine.dispose()


def test_migrations_downgrade_to_base_and_up_again(db_url: str) -> None:
    migrate(MIGRATIONS, db_url)
    from alembic import command

    from shared.db import alembic_config

    command.downgrade(alembic_config(MIGRATIONS, db_url), "base")
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            assert "sync_run" not in sa.inspect(conn).get_table_names()
    finally:
        engine.dispose()
    migrate(MIGRATIONS, db_url)
