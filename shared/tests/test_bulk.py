"""``shared.bulk``: rows written set-wise (COPY on PostgreSQL) read back as SQLAlchemy's own INSERT stores them,
dates and times included (COPY writes each distinct one as psycopg's text, once); ``next_ids`` gives new ids."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone

import sqlalchemy as sa

from shared import bulk
from shared.db import UTCDateTime, make_engine

META = sa.MetaData()


def _table(name: str) -> sa.Table:
    return sa.Table(name, META, sa.Column("id", sa.Integer, primary_key=True), sa.Column("at", UTCDateTime),
                    sa.Column("aware", sa.DateTime(timezone=True)), sa.Column("naive", sa.DateTime),
                    sa.Column("day", sa.Date), sa.Column("clock", sa.Time), sa.Column("text", sa.Text))


ORM, BULK = _table("by_insert"), _table("by_bulk")
WIB = timezone(timedelta(hours=7))


def _rows() -> list[dict[str, object]]:
    at = datetime(2026, 12, 4, 21, 0, 0, 123456, tzinfo=UTC)
    out = []
    for i in range(40):
        same = at + timedelta(seconds=i % 3)  # values repeated, as a batch's "now"
        out.append({"id": i + 1, "at": same if i % 2 else same.astimezone(WIB),
                    # equal instants written in two offsets, a distinct one, none
                    "aware": [same, same.astimezone(WIB), at + timedelta(days=i), None][i % 4],
                    "naive": datetime(2026, 1, 1 + i % 28, 3, 4, 5, i),
                    "day": None if i % 5 == 0 else date(2012, 1, 1 + i % 9),
                    "clock": time(1, 2, i % 60), "text": f"x\t{i}\\n"})
    return out


def test_bulk_insert_stores_what_an_insert_stores(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        META.create_all(engine)
        with engine.begin() as conn:
            conn.execute(sa.insert(ORM), _rows())
            bulk.insert(conn, BULK, _rows())
        with engine.connect() as conn:
            cols = [c.name for c in ORM.c]
            want = conn.execute(sa.select(ORM).order_by(ORM.c.id)).all()
            got = conn.execute(sa.select(BULK).order_by(BULK.c.id)).all()
        assert [tuple(r) for r in got] == [tuple(r) for r in want]
        assert len(got) == 40 and cols[1] == "at" and got[1][1] == datetime(2026, 12, 4, 21, 0, 1, 123456, tzinfo=UTC)
    finally:
        META.drop_all(engine)
        engine.dispose()


def test_next_ids_are_new_and_increasing(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        META.create_all(engine)
        with engine.begin() as conn:
            bulk.insert(conn, BULK, _rows()[:3])
            if conn.dialect.name == "postgresql":  # the rows above took no ids from the sequence
                conn.execute(sa.text("SELECT setval(pg_get_serial_sequence('by_bulk', 'id'), 3)"))
            first = bulk.next_ids(conn, BULK, 5)
            bulk.insert(conn, BULK, [{**row, "id": i} for row, i in zip(_rows(), first, strict=False)])
            second = bulk.next_ids(conn, BULK, 4)
        assert first == list(range(4, 9))
        assert second == list(range(9, 13))
    finally:
        META.drop_all(engine)
        engine.dispose()
