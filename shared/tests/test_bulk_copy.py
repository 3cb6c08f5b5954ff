"""``shared.bulk.copy_text``: a COPY's data written a column at a time is the bytes psycopg's ``write_row`` sends,
and reads back the same rows; values it does not cover are left to ``write_row``."""

from __future__ import annotations

import enum
import random
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from psycopg._copy_base import TextFormatter  # psycopg's own row writer: what ``Copy.write_row`` sends
from psycopg.adapt import Transformer

from shared import bulk

SPECIAL = "\b\t\n\v\f\r\\"
ALPHABET = "ab Z09-_/\"'{}:,é日本🙂\u00a0\x01\x1f\x7f" + SPECIAL


def _text(rng: random.Random) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(0, 12)))


def _value(rng: random.Random, kind: int) -> object:
    """Column ``kind``'s random value (None now and then)."""
    if rng.random() < 0.15:
        return None
    if kind == 0:
        return _text(rng)
    if kind == 1:
        return rng.choice([0, 1, -1, 7, 2**31, -(2**40), 10**30, rng.randrange(-10**6, 10**6)])
    if kind == 2:
        return rng.choice([True, False])
    if kind == 3:  # the same instant under different offsets, with and without microseconds, naive too
        at = datetime(2026, 12, 4, 20, 55, rng.randrange(60), rng.choice([0, 123456, 1]), tzinfo=UTC)
        zone = rng.choice([UTC, timezone(timedelta(hours=7)), timezone(timedelta(hours=-3, minutes=-30)), None])
        return at.replace(tzinfo=None) if zone is None else at.astimezone(zone)
    if kind == 4:
        return date(rng.randrange(1, 9999), rng.randrange(1, 13), rng.randrange(1, 29))
    return rng.choice([_text(rng), 5, True, datetime(2026, 1, 1, tzinfo=UTC), date(2000, 2, 29)])  # mixed


def _written_by_psycopg(columns: list[list[object]]) -> bytes:
    formatter = TextFormatter(Transformer())
    out = bytearray()
    for row in zip(*columns, strict=True):
        out += formatter.write_row(row)
    return bytes(out + formatter.end())


@pytest.mark.parametrize("seed", range(30))
def test_copy_text_is_the_bytes_psycopg_writes_row_by_row(seed: int) -> None:
    rng = random.Random(seed)
    kinds = [rng.randrange(6) for _ in range(rng.randrange(1, 9))]
    rows = rng.randrange(1, 400)
    columns = [[_value(rng, k) for _ in range(rows)] for k in kinds]
    text = bulk.copy_text(columns)
    assert text is not None
    assert "".join(text).encode("utf-8") == _written_by_psycopg(columns)


def test_copy_text_in_pieces_keeps_every_row(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bulk, "_COPY_CHUNK", 7)
    columns = [[f"r{i}\t" for i in range(30)], list(range(30)), [None] * 30]
    text = bulk.copy_text(columns)
    assert text is not None and len(text) == 5
    assert "".join(text).encode("utf-8") == _written_by_psycopg(columns)


class Colour(enum.StrEnum):
    RED = "red"


@pytest.mark.parametrize("value", [Colour.RED, 1.5, b"x", "a\x00b", timedelta(seconds=1), {"a": 1}])
def test_values_it_does_not_cover_are_left_to_write_row(value: object) -> None:
    """An enum dumps as its name, floats and bytes have dumpers of their own, a NUL is psycopg's error to raise."""
    assert bulk.copy_text([["plain", value], [1, 2]]) is None


@pytest.mark.postgres
def test_rows_copied_as_text_read_back_as_given(postgres_url: str) -> None:
    """Through ``shared.bulk.insert`` (COPY on PostgreSQL): every value back as it was written, the escaped
    characters, NULLs, unicode, times of several offsets, booleans and big integers included."""
    meta = sa.MetaData()
    table = sa.Table("copied", meta, sa.Column("n", sa.Integer, primary_key=True), sa.Column("s", sa.Text),
                     sa.Column("b", sa.Boolean), sa.Column("i", sa.BigInteger),
                     sa.Column("t", sa.DateTime(timezone=True)), sa.Column("d", sa.Date))
    rng = random.Random(7)
    rows = [{"n": n, "s": _value(rng, 0), "b": _value(rng, 2), "i": rng.choice([None, -(2**40), 2**62, 0]),
             "t": rng.choice([None, datetime(2026, 1, 1, 1, 2, 3, 456, tzinfo=timezone(timedelta(hours=7)))]),
             "d": _value(rng, 4)} for n in range(500)]
    rows[0]["s"] = SPECIAL + "\\N" + "日本"
    engine = sa.create_engine(postgres_url)
    try:
        meta.create_all(engine)
        with engine.begin() as conn:
            bulk.insert(conn, table, rows)
        with engine.connect() as conn:
            back = [dict(r._mapping) for r in conn.execute(sa.select(table).order_by(table.c.n))]
    finally:
        engine.dispose()
    assert back == rows
