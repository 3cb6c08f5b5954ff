"""``shared.bulk``: rows written set-wise (COPY on PostgreSQL) read back as SQLAlchemy's own INSERT stores them,
dates and times included (COPY writes each distinct one as psycopg's text, once); ``next_ids`` gives new ids."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone

import pytest
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


UPDATED = sa.Table("by_update", META, sa.Column("id", sa.String(36), primary_key=True), sa.Column("flag", sa.Boolean),
                   sa.Column("label", sa.String(40)), sa.Column("note", sa.Text), sa.Column("n", sa.BigInteger),
                   sa.Column("at", UTCDateTime))
# what JSON escapes or PostgreSQL's json parser decodes: quotes, backslashes, control characters, non-ASCII, U+2028,
# characters outside the BMP (a surrogate pair in JSON), a text that looks like JSON or an escape
_TEXTS = ['plain', 'quote " and \\ backslash', "tab\tnew\nline\rcr\b\f", "é Ünïcödé 漢字 \u2028 \U0001f600", "\\u0041",
          '{"a": [1, null]}', "", "  spaces  ", "\x01\x1f\x7f"]


def _updated_rows(engine: sa.Engine) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(UPDATED).order_by(UPDATED.c.id))]


def test_bulk_update_stores_what_one_update_per_row_stores(db_url: str) -> None:
    """``bulk.update`` (PostgreSQL: one UPDATE ... FROM json_to_recordset) leaves every row as one UPDATE per row,
    in order, leaves it: values of every kind JSON carries, NULLs, a key given twice (the later stands), a key
    matching no row, and the ``also`` timestamp through its column's type; on PostgreSQL in one statement."""
    at = datetime(2026, 12, 5, 0, 30, 1, 654321, tzinfo=timezone(timedelta(hours=7)))
    rows = [{"id": f"s{i:02d}", "flag": [True, False, None][i % 3], "label": _TEXTS[i % len(_TEXTS)][:40],
             "note": None if i % 4 == 0 else _TEXTS[(i * 5) % len(_TEXTS)] * 3, "n": [0, -1, 2**62, None][i % 4]}
            for i in range(30)]
    rows += [{**rows[3], "label": "given again: this one stands"}, {**rows[0], "id": "nobody"}]
    engine = make_engine(db_url)
    try:
        META.create_all(engine)
        start = [{"id": f"s{i:02d}", "flag": False, "label": "old", "note": "old", "n": 7, "at": None}
                 for i in range(30)]
        with engine.begin() as conn:
            conn.execute(sa.insert(UPDATED), start)
        with engine.begin() as conn:
            stmt = (sa.update(UPDATED).where(UPDATED.c.id == sa.bindparam("b_id"))
                    .values(flag=sa.bindparam("b_flag"), label=sa.bindparam("b_label"), note=sa.bindparam("b_note"),
                            n=sa.bindparam("b_n"), at=sa.bindparam("b_at")))
            for row in rows:  # one statement per row, in order
                conn.execute(stmt, {f"b_{k}": v for k, v in (row | {"at": at}).items()})
        want = _updated_rows(engine)
        with engine.begin() as conn:
            conn.execute(sa.delete(UPDATED))
            conn.execute(sa.insert(UPDATED), start)
        seen: list[str] = []
        sa.event.listen(engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
        with engine.begin() as conn:
            bulk.update(conn, UPDATED, "id", rows, {"at": at})
        sent = list(seen)
        got = _updated_rows(engine)
        assert got == want
        assert got[3][2] == "given again: this one stands" and got[0][5] == at
        if engine.dialect.name == "postgresql":
            assert len(sent) == 1 and "json_to_recordset" in sent[0]
    finally:
        META.drop_all(engine)
        engine.dispose()


def test_bulk_update_leaves_what_json_would_not_carry_to_the_driver(db_url: str) -> None:
    """A value of another type than its column's (a float in an integer column), a NUL in a text: one UPDATE per
    row, as before (the driver converts the first, and refuses the second with its own error)."""
    engine = make_engine(db_url)
    try:
        META.create_all(engine)
        with engine.begin() as conn:
            conn.execute(sa.insert(UPDATED), [{"id": "a", "n": 1}, {"id": "b", "n": 2}])
        seen: list[str] = []
        sa.event.listen(engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
        with engine.begin() as conn:
            bulk.update(conn, UPDATED, "id", [{"id": "a", "n": 5.0}, {"id": "b", "n": 6}])
        assert [r[4] for r in _updated_rows(engine)] == [5, 6]
        assert not any("json_to_recordset" in s for s in seen)
        if engine.dialect.name == "postgresql":
            with pytest.raises(sa.exc.DataError), engine.begin() as conn:
                bulk.update(conn, UPDATED, "id", [{"id": "a", "note": "nul \x00 here"}])
    finally:
        META.drop_all(engine)
        engine.dispose()
