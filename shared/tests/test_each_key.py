"""``shared.db.each_key``: a page's keys read as one index seek per key on PostgreSQL, whatever the statistics."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from shared.db import each_key

pytestmark = pytest.mark.postgres

META = sa.MetaData()
MONTHS = sa.Table("months", META, sa.Column("student", sa.String(36), primary_key=True),
                  sa.Column("bulan", sa.Integer, primary_key=True), sa.Column("hadir", sa.Integer))
STUDENTS = 3_000
PAGE = [f"s{i:05d}" for i in range(0, STUDENTS, 3)]  # 1,000 keys: a third of the table's students


@pytest.fixture
def engine(postgres_url: str):  # type: ignore[no-untyped-def]
    engine = sa.create_engine(postgres_url)
    META.create_all(engine)
    with engine.begin() as conn:
        conn.execute(sa.insert(MONTHS), [{"student": f"s{i:05d}", "bulan": b, "hadir": i % 20}
                                         for i in range(STUDENTS) for b in (1, 2, 3)])
        conn.execute(sa.text("ANALYZE months"))
    yield engine
    engine.dispose()


def _plan(conn: sa.Connection, stmt: sa.Select) -> str:  # type: ignore[type-arg]
    sql = stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
    return "\n".join(conn.execute(sa.text(f"EXPLAIN {sql}")).scalars())


def _seek(key: sa.ColumnElement[str]) -> sa.Select:  # type: ignore[type-arg]
    return sa.select(MONTHS).where(MONTHS.c.student == key)


def test_each_key_reads_the_rows_of_every_key(engine: sa.Engine) -> None:
    stmt = each_key(_seek, "ids")
    got = stmt.selected_columns
    with engine.connect() as conn:
        rows = conn.execute(stmt.order_by(got.student, got.bulan), {"ids": json.dumps([*PAGE, "nobody"])}).all()
    want = [(k, b, int(k[1:]) % 20) for k in PAGE for b in (1, 2, 3)]
    assert [tuple(r) for r in rows] == want


def test_each_key_seeks_the_index_where_an_in_list_scans_the_table(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        listed = _plan(conn, sa.select(MONTHS).where(MONTHS.c.student.in_(PAGE)))
        seek = _plan(conn, each_key(_seek, "ids").params(ids=json.dumps(PAGE)))
    assert "Seq Scan on months" in listed  # what the planner makes of a page that is a third of the table
    assert "Seq Scan on months" not in seek and "Index Scan using months_pkey on months" in seek, seek


def test_one_of_seeks_the_index_on_a_table_analyzed_while_empty(postgres_url: str) -> None:
    """``one_of`` on PostgreSQL: the keys as ``= ANY(ARRAY(...))``, an index condition whatever the statistics. As
    ``IN (SELECT ...)`` a table analyzed while empty (the hub's copy in a first sync) was joined whole per page."""
    from sqlmodel import Session

    from shared.db import one_of

    engine = sa.create_engine(postgres_url)
    try:
        META.create_all(engine)
        with engine.begin() as conn:
            conn.execute(sa.text("ANALYZE months"))  # empty
            conn.execute(sa.insert(MONTHS), [{"student": f"s{i:05d}", "bulan": 1, "hadir": 0} for i in range(STUDENTS)])
        with Session(engine) as session:
            where, bind = one_of(session, MONTHS.c.student, "ids")  # type: ignore[arg-type]
            stmt = sa.select(MONTHS.c.student).where(MONTHS.c.bulan == 1, where)
            got = sorted(session.execute(stmt, {"ids": bind(PAGE[:50])}).scalars())
            plan = _plan(session.connection(), stmt.params(ids=bind(PAGE)))
            keys = sa.select(sa.func.json_array_elements_text(sa.cast(sa.literal(bind(PAGE)), sa.JSON)))
            joined = _plan(session.connection(),
                           sa.select(MONTHS.c.student).where(MONTHS.c.student.in_(keys.scalar_subquery())))
        assert got == PAGE[:50]
        assert "Index Cond" in plan and "= ANY" in plan and "Join" not in plan, plan
        assert "Join" in joined  # what the planner made of the IN (SELECT ...) form on these statistics
    finally:
        engine.dispose()
