"""The record step's tables (a unit's outcomes in its run, every student's status) as a first sync fills them: what a
unit records replaces an earlier attempt's rows and nobody else's, on both databases; on PostgreSQL the tables'
statistics follow their growth (``runs.repository.GROWING``), so the next unit's delete seeks its students through
the key's index instead of filtering every row the run wrote so far."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from services.sync_hub.main import MIGRATIONS
from services.sync_hub.runs import repository as runs_repo
from services.sync_hub.runs.models import SyncRunRow
from shared.db import Growing, make_engine, migrate, one_of, session_scope
from shared.testing import ids_past_integer

AT = datetime(2026, 5, 1, 3, 4, 5, tzinfo=UTC)
UNIT = 1200  # students per unit


@pytest.fixture
def engine(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    migrate(MIGRATIONS, db_url)
    engine = make_engine(db_url)
    monkeypatch.setattr(runs_repo, "GROWING", {name: Growing(g.table, g.columns)
                                               for name, g in runs_repo.GROWING.items()})
    with session_scope(engine) as session:
        session.add(SyncRunRow(id="run-1", status="RUNNING", trigger="test", systems=["dapodik"], created_at=AT))
    yield engine
    engine.dispose()


def _unit(session: sa.orm.Session, first: int, outcome: str = "PKH_RECIPIENT") -> None:
    ids = [f"pd-{i:06d}" for i in range(first, first + UNIT)]
    runs_repo.replace_outcomes(session, "run-1", "dapodik", [
        {"sync_run_id": "run-1", "system": "dapodik", "student_id": i, "outcome": outcome, "detail": None,
         "matched_by": "NIK", "no_kk": None} for i in ids])
    runs_repo.upsert_status(session, [
        {"system": "dapodik", "student_id": i, "region": "3201", "outcome": outcome, "no_kk": None,
         "child_nik": None, "sync_run_id": "run-1", "updated_at": AT} for i in ids])


def test_a_unit_recorded_again_replaces_its_own_rows_only(engine: Engine) -> None:
    with session_scope(engine) as session:
        for u in range(3):
            _unit(session, u * UNIT)
    with session_scope(engine) as session:  # the second unit's job run again, deciding otherwise
        _unit(session, UNIT, outcome="NOT_REGISTERED")
    with engine.connect() as conn:
        counts = dict(conn.execute(sa.text(
            "SELECT outcome, count(*) FROM student_outcome GROUP BY outcome")).all())
        status = dict(conn.execute(sa.text(
            "SELECT outcome, count(*) FROM student_status GROUP BY outcome")).all())
    assert counts == status == {"PKH_RECIPIENT": 2 * UNIT, "NOT_REGISTERED": UNIT}


def test_the_next_units_delete_seeks_its_students_on_postgres(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        assert runs_repo.GROWING["student_outcome"].rows == 0  # no statistics to keep on SQLite
        return
    with engine.connect() as conn:  # both tables analyzed while empty, as after the migration on a fresh database
        conn.execute(sa.text("ANALYZE student_outcome"))
        conn.execute(sa.text("ANALYZE student_status"))
        conn.commit()
    for u in range(4):  # one transaction per unit, as the units' jobs record
        with session_scope(engine) as session:
            _unit(session, u * UNIT)
    ids = [f"pd-{i:06d}" for i in range(4 * UNIT, 5 * UNIT)]
    outcome = runs_repo.StudentOutcomeRow.__table__  # type: ignore[attr-defined]
    status = runs_repo.StudentStatusRow.__table__  # type: ignore[attr-defined]
    with session_scope(engine) as session:
        where, bind = one_of(session, outcome.c.student_id, "ids")
        deletes = {
            "student_outcome": outcome.delete().where(outcome.c.sync_run_id == "run-1",
                                                      outcome.c.system == "dapodik", where),
            "student_status": status.delete().where(status.c.system == "dapodik",
                                                    one_of(session, status.c.student_id, "ids")[0])}
        for name, stmt in deletes.items():
            compiled = stmt.compile(dialect=session.get_bind().dialect)
            plan = "\n".join(session.connection().exec_driver_sql(
                f"EXPLAIN {compiled}", {**compiled.params, "ids": bind(ids)}).scalars())
            # the students' ids are the index's condition, not a filter over the rows the run wrote so far
            assert "student_id" in plan.split("Index Cond", 1)[-1].split("\n", 1)[0], (name, plan)
            assert "Seq Scan" not in plan, (name, plan)


def test_outcomes_numbered_past_integer_are_written_and_paged(engine: Engine) -> None:
    with session_scope(engine) as session:
        _unit(session, 0)
    past = ids_past_integer(engine, "student_outcome")
    with session_scope(engine) as session:
        _unit(session, UNIT)  # a later unit: its rows take the next ids
    with session_scope(engine) as session:
        first = runs_repo.list_outcomes(session, "run-1", 1000, 0)
        pages = [first]
        while len(pages[-1]) == 1000:
            pages.append(runs_repo.list_outcomes(session, "run-1", 1000, int(pages[-1][-1].id or 0)))
        ids = [int(r.id or 0) for page in pages for r in page]
    assert len(ids) == 2 * UNIT == len(set(ids)) and ids == sorted(ids) and min(ids) > past
