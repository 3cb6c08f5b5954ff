"""``shared.db.Growing``: ANALYZE of a table a process fills, after 1,000 rows and then on each doubling."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session

from shared.db import Growing, analyze_due

META = sa.MetaData()
ROWS = sa.Table("rows", META, sa.Column("k", sa.String, primary_key=True), sa.Column("v", sa.Integer))


def test_the_schedule_is_first_then_each_doubling() -> None:
    points = [n for n in range(1, 20_001) if analyze_due(n - 1, n)]
    assert points == [1000, 2000, 4000, 8000, 16000]
    assert analyze_due(0, 999) is False and analyze_due(0, 1000) is True
    assert analyze_due(1000, 1999) is False and analyze_due(1500, 2500) is True
    assert analyze_due(900, 5000) is True  # one ANALYZE for a batch passing several points
    assert analyze_due(5, 5) is False and analyze_due(0, 30, first=10) is True


def test_growing_counts_batches_and_analyzes_on_the_schedule_on_postgres(postgres_url: str) -> None:
    engine = sa.create_engine(postgres_url)
    try:
        META.create_all(engine)
        growing = Growing("rows", ("k",))
        done = []
        with Session(engine) as session:
            for batch in range(6):  # 6 x 400 rows: passes 1,000 (3rd batch) and 2,000 (5th)
                session.execute(sa.insert(ROWS), [{"k": f"{batch}-{i}", "v": i} for i in range(400)])
                done.append(growing.added(session, 400))
            # the writer's own transaction's rows are counted by its ANALYZE
            tuples = session.execute(sa.text("SELECT reltuples FROM pg_class WHERE relname = 'rows'")).scalar()
            stats = session.execute(sa.text("SELECT count(*) FROM pg_stats WHERE tablename = 'rows' "
                                            "AND attname = 'k'")).scalar()
            session.commit()
        assert done == [False, False, True, False, True, False]
        assert growing.rows == 2400 and tuples == 2000 and stats == 1
    finally:
        engine.dispose()


def test_growing_is_a_no_op_on_sqlite(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = sa.create_engine(f"sqlite:///{tmp_path / 't.db'}")
    statements: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    growing = Growing("rows", ("k",))
    with Session(engine) as session:
        assert growing.added(session, 5000) is False
    assert growing.rows == 0 and not statements
