"""``shared.db.together``: several reads of different shapes in one statement, each read's rows as its own statement
gives them (values, types, order)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from shared.db import apart, each_key, together

pytestmark = pytest.mark.postgres

META = sa.MetaData()
MARKS = sa.Table("marks", META, sa.Column("id", sa.Integer, primary_key=True),
                 sa.Column("student", sa.String(36), index=True), sa.Column("field", sa.String(40)),
                 sa.Column("value", sa.Text), sa.Column("at", sa.DateTime(timezone=True)))
MONTHS = sa.Table("months", META, sa.Column("student", sa.String(36), primary_key=True),
                  sa.Column("tahun", sa.Integer, primary_key=True), sa.Column("bulan", sa.Integer, primary_key=True),
                  sa.Column("hadir", sa.Integer, nullable=True), sa.Column("ok", sa.Boolean))
STUDENTS = ["a_1", "A2", "a-3", "b", "nobody"]  # mixed case and punctuation: the database's collation orders them
FIELDS = ["no_kks", "nok", "No-KKS", "penerima_pkh", "periode"]


@pytest.fixture
def engine(postgres_url: str):  # type: ignore[no-untyped-def]
    engine = sa.create_engine(postgres_url)
    META.create_all(engine)
    at = datetime(2026, 12, 4, 1, 2, 3, 456789, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(sa.insert(MARKS), [
            {"id": 10 * i + j, "student": s, "field": f, "value": json.dumps([s, f]) if j % 2 else None,
             "at": at if j % 3 else None}
            for i, s in enumerate(STUDENTS[:-1]) for j, f in enumerate(FIELDS)])
        conn.execute(sa.insert(MONTHS), [
            {"student": s, "tahun": y, "bulan": b, "hadir": None if b == 2 else b * 3, "ok": b % 2 == 0}
            for s in STUDENTS[:-2] for y in (2026, 2025) for b in (3, 1, 2)])
    yield engine
    engine.dispose()


def _marks() -> sa.Select:  # type: ignore[type-arg]
    return each_key(lambda k: sa.select(MARKS).where(MARKS.c.student == k), "ids")


def _months() -> sa.Select:  # type: ignore[type-arg]
    return each_key(lambda k: sa.select(MONTHS.c.student, MONTHS.c.tahun, MONTHS.c.bulan, MONTHS.c.hadir,
                                        MONTHS.c.ok).where(MONTHS.c.student == k), "ids")


def test_each_read_comes_apart_as_its_own_statement_reads_it(engine: sa.Engine) -> None:
    marks, months = _marks(), _months()
    stmt = together((marks, ("student", "field")), (months, ("student", "tahun", "bulan")))
    ids = {"ids": json.dumps(STUDENTS)}
    with engine.connect() as conn:
        alone_marks = [dict(r) for r in conn.execute(
            marks.order_by(marks.selected_columns.student, marks.selected_columns.field), ids).mappings()]
        alone_months = [dict(r) for r in conn.execute(
            months.order_by(*(months.selected_columns[n] for n in ("student", "tahun", "bulan"))), ids).mappings()]
        got_marks, got_months = apart(stmt, conn.execute(stmt, ids).all())
    assert len(alone_marks) == 20 and len(alone_months) == 18
    assert got_marks == alone_marks  # values, NULLs and order (the collation's, not Python's)
    assert got_months == alone_months
    assert [type(r["at"]) for r in got_marks] == [type(r["at"]) for r in alone_marks]
    assert all(r["at"].tzinfo is not None for r in got_marks if r["at"] is not None)


def test_a_read_with_no_rows_comes_apart_empty(engine: sa.Engine) -> None:
    stmt = together((_marks(), ("student", "field")), (_months(), ("student", "tahun", "bulan")))
    with engine.connect() as conn:
        assert apart(stmt, conn.execute(stmt, {"ids": json.dumps(["nobody"])}).all()) == [[], []]
        marks, months = apart(stmt, conn.execute(stmt, {"ids": json.dumps(["b"])}).all())
    assert len(marks) == 5 and months == []
