"""The outbox's replay read and its partial index (migration 0023): the rows not settled of a region's units, found
through ``ix_outbox_item_replay``; settled rows are in no index but the key's and the run's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from services.sync_hub.main import MIGRATIONS
from services.sync_hub.provenance import repository as prov_repo
from services.sync_hub.provenance.models import OutboxItemRow
from services.sync_hub.runs.models import SyncRunRow, SyncUnitRow
from services.sync_hub.sync.push import replay_query
from shared.contracts.hub import SourceSystem
from shared.db import alembic_config, make_engine, migrate, migrate_to, session_scope

T0 = datetime(2026, 12, 5, tzinfo=UTC)
UNITS = [("u-1", "emis", "32"), ("u-2", "emis", "33"), ("u-3", "dapodik", "32")]
STATUSES = ("PENDING", "FAILED", "APPLIED", "UNCHANGED", "STALE", "NOT_FOUND", "REJECTED")


def _fill(engine: Engine) -> None:
    """Three units (emis 32, emis 33, dapodik 32), each with one PENDING outbox row per status to settle to."""
    with session_scope(engine) as session:
        session.add(SyncRunRow(id="run-1", status="RUNNING", trigger="test", systems=["emis", "dapodik"],
                               created_at=T0, started_at=T0, full=True, registry_seq=1))
        session.flush()
        for n, (unit, system, region) in enumerate(UNITS):
            session.add(SyncUnitRow(id=unit, sync_run_id="run-1", system=system, region=region, status="RUNNING",
                                    created_at=T0 + timedelta(seconds=n), started_at=T0, attempts=1))
        session.flush()
        session.add_all([OutboxItemRow(id=f"{unit}-{status}", sync_run_id="run-1", unit_id=unit, target_system=system,
                                       student_id=f"s-{n}", payload=f'"{unit}-{status}"', status="PENDING",
                                       created_at=T0 + timedelta(seconds=n))
                         for unit, system, _ in UNITS for n, status in enumerate(STATUSES)])


@pytest.fixture()
def filled(engine: Engine) -> Engine:
    _fill(engine)
    with session_scope(engine) as session:  # settled as the pusher settles them
        prov_repo.settle_outbox(session, [{"b_id": f"{u}-{s}", "status": s, "detail": None, "sent_at": T0}
                                          for u in ("u-1", "u-2", "u-3") for s in STATUSES if s != "PENDING"])
    return engine


def test_replay_reads_the_rows_not_settled_of_the_regions_units(filled: Engine) -> None:
    with session_scope(filled) as session:
        got = [r[0] for r in session.execute(replay_query(SourceSystem.EMIS, "32"))]
    assert got == ['"u-1-PENDING"', '"u-1-FAILED"']


def test_replay_reads_through_the_partial_index(filled: Engine) -> None:
    """The planner can use ``ix_outbox_item_replay`` for the replay's read: its statuses imply the index's
    predicate, written as constants (bound as parameters, PostgreSQL's generic plans and SQLite could not use it)."""
    query = replay_query(SourceSystem.EMIS, "32")
    with filled.connect() as conn:
        assert sorted(query.compile(conn).params.values()) == ["32", "emis"]  # the statuses are not bound
        sql = str(query.compile(conn, compile_kwargs={"literal_binds": True}))
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SET enable_seqscan = off"))
            plan = "\n".join(r[0] for r in conn.exec_driver_sql(f"EXPLAIN {sql}"))
        else:
            plan = "\n".join(str(r[-1]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
    assert "ix_outbox_item_replay" in plan, plan


def test_the_outbox_keeps_three_indexes_the_replays_partial(filled: Engine) -> None:
    """A settled row's new version is entered in the key's index and the run's only (settling changes ``status``:
    never a HOT update)."""
    with filled.connect() as conn:
        got = {i["name"]: i for i in sa.inspect(conn).get_indexes("outbox_item")}
        if conn.dialect.name == "postgresql":
            got["pk_outbox_item"] = {"column_names": ["id"]}
            where = conn.execute(sa.text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_outbox_item_replay'"
                                         )).scalar()
            assert where is not None and "(unit_id) WHERE" in where, where
            assert where.count("'PENDING'") == where.count("'FAILED'") == 1 and "APPLIED" not in where, where
    assert {n: i["column_names"] for n, i in got.items() if n != "pk_outbox_item"} == {
        "ix_outbox_item_sync_run_id": ["sync_run_id"], "ix_outbox_item_replay": ["unit_id"]}


def test_0023_keeps_the_outbox_and_its_downgrade_gives_the_indexes_back(db_url: str, real_migrations: None) -> None:
    before = ScriptDirectory.from_config(alembic_config(MIGRATIONS, db_url)).get_revision("0023").down_revision
    assert isinstance(before, str)
    migrate_to(MIGRATIONS, db_url, before)
    engine = make_engine(db_url)

    def indexes(table: str) -> set[str]:
        with engine.connect() as conn:
            return {i["name"] for i in sa.inspect(conn).get_indexes(table)}

    try:
        _fill(engine)
        assert {"ix_outbox_item_status", "ix_outbox_item_unit_id"} <= indexes("outbox_item")
        migrate(MIGRATIONS, db_url)
        assert "ix_outbox_item_replay" in indexes("outbox_item")
        assert not {"ix_outbox_item_status", "ix_outbox_item_unit_id"} & indexes("outbox_item")
        assert "ix_provenance_sync_run_id" not in indexes("provenance")
        assert "ix_student_outcome_sync_run_id" not in indexes("student_outcome")
        with session_scope(engine) as session:
            assert len(session.execute(replay_query(SourceSystem.EMIS, "32")).all()) == len(STATUSES)
        migrate_to(MIGRATIONS, db_url, before)
        assert {"ix_outbox_item_status", "ix_outbox_item_unit_id"} <= indexes("outbox_item")
        assert "ix_outbox_item_replay" not in indexes("outbox_item")
        assert "ix_provenance_sync_run_id" in indexes("provenance")
        assert "ix_student_outcome_sync_run_id" in indexes("student_outcome")
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM outbox_item")).scalar() == 3 * len(STATUSES)
    finally:
        engine.dispose()
