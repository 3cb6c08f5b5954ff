"""Set-wise writes with less per-row overhead than SQLAlchemy's, for loaders and result batches.

SQLAlchemy builds each row's parameters through the statement's bind processors: a result batch of 500
students is ~7,500 rows and ~10,000 timestamps that are nearly all the same few values (the batch's
``now``, the hub's ``retrieved_at``), and a world load is millions of rows. Here the statement is compiled
once, each column's bind processor runs once per *distinct* value, and the rows go to the driver as
tuples: SQLite's ``executemany`` (``qmark``), psycopg's ``executemany`` (``pyformat``: pipeline mode, the one
short statement parsed once, where SQLAlchemy's multi-row INSERTs are long texts parsed anew each time), or
PostgreSQL ``COPY ... FROM STDIN`` for plain inserts.

Every function takes a ``Session`` (its transaction) or a ``Connection``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime, time
from operator import itemgetter
from typing import Any

import sqlalchemy as sa
from psycopg.adapt import PyFormat
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import UpdateBase

Target = Session | sa.Connection
Row = Mapping[str, Any]


def _connection(target: Target) -> sa.Connection:
    return target.connection() if isinstance(target, Session) else target


def executemany(target: Target, stmt: UpdateBase, rows: Sequence[Row]) -> None:
    """Execute ``stmt`` once per row; every row has the keys of the first (column names, or the names of
    the ``bindparam``s of a WHERE clause)."""
    if not rows:
        return
    conn = _connection(target)
    dialect = conn.dialect
    compiled = stmt.compile(dialect=dialect, column_keys=list(rows[0]))
    positional = compiled.positiontup is not None
    names = list(compiled.positiontup if positional else compiled.binds)  # type: ignore[arg-type]
    columns: list[list[Any]] = []
    for name in names:  # column by column: one processor lookup per column, C-level loops per row
        bind = compiled.binds[name]
        # a name not in the rows is a literal of the statement itself (say ``state == 'PENDING'``)
        values = [row[name] for row in rows] if name in rows[0] else [bind.effective_value] * len(rows)
        processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
        columns.append(values if processor is None else list(map(_memoised(processor), values)))
    params: list[Any] = (list(zip(*columns, strict=True)) if positional
                         else [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)])
    conn.exec_driver_sql(compiled.string, params)


# The column types (by affinity: SQLModel's AutoString is a String) whose values update() sends as JSON, and the
# one Python type each may hold there.
_JSON_TYPES: tuple[tuple[type[Any], type], ...] = ((sa.Boolean, bool), (sa.String, str), (sa.Integer, int))


def _json_ready(dialect: sa.Dialect, table: sa.Table, rows: Sequence[Row]) -> bool:
    """Whether every value of ``rows`` goes through JSON to its column as the driver would send it: plain
    ``str`` / ``bool`` / ``int`` (exact types) or None, in a column of that Python type whose type has no bind
    processing of its own, every row with the first row's keys, and no string that psycopg would refuse (a NUL,
    text UTF-8 cannot hold): those keep the driver's own way, and its errors."""
    keys = rows[0].keys()
    texts: list[str] = []
    for name in keys:
        column_type = table.c[name].type
        affinity = column_type._type_affinity
        wanted = next((py for sql, py in _JSON_TYPES if affinity is not None and issubclass(affinity, sql)), None)
        if wanted is None:
            return False
        # a Boolean's processor only checks that the value is a boolean; any other processor changes values
        if not (isinstance(column_type, sa.Boolean)
                or column_type.dialect_impl(dialect).bind_processor(dialect) is None):
            return False
        values = [row[name] for row in rows]
        if not set(map(type, values)) <= {wanted, type(None)}:
            return False
        if wanted is str:
            texts += values
    if any(row.keys() != keys for row in rows):
        return False
    joined = "".join(t for t in texts if t is not None)
    if "\x00" in joined:
        return False
    if not joined.isascii():
        try:
            joined.encode()
        except UnicodeEncodeError:
            return False
    return True


def update(target: Target, table: sa.Table, key: str, rows: Sequence[Row], also: Mapping[str, Any] | None = None
           ) -> None:
    """Set, in the row of ``table`` whose ``key`` column is each row's ``key``, that row's other columns (every row
    has the first row's keys), and every column of ``also`` to its one value; keys that match no row change
    nothing, and of two rows with one key the later one stands (as one UPDATE per row in order would leave it).

    PostgreSQL: one ``UPDATE ... FROM json_to_recordset(:rows)`` for all of them (the rows as one JSON text, the
    ``also`` values as bound parameters through their columns' types), where one UPDATE per row cost the driver a
    parameter set and the server an executor run each (measured, a hub batch's students at the Dapodik gateway:
    ~14 µs of the gateway's CPU and ~11 µs of its database's per row, ~4 and ~9 µs with one statement). The
    planner joins the rows to the table by its key's index (a nested loop), or by reading the table when it is
    small enough for that to be cheaper. Values JSON would not carry as the driver does (other types, a column
    type with its own bind processing, text psycopg refuses) take :func:`executemany`, as does SQLite. Rows are
    updated in no particular order: lock them first where that matters."""
    if not rows:
        return
    conn = _connection(target)
    also = dict(also or {})
    names = [name for name in rows[0] if name != key and name not in also]
    if conn.dialect.name != "postgresql" or not names or not _json_ready(conn.dialect, table, rows):
        stmt = sa.update(table).where(table.c[key] == sa.bindparam(f"b_{key}")).values(
            {name: sa.bindparam(f"b_{name}") for name in names} | {name: sa.bindparam(f"b_{name}") for name in also})
        executemany(conn, stmt, [{f"b_{k}": v for k, v in {**row, **also}.items()} for row in rows])
        return
    dialect = conn.dialect
    quote = dialect.identifier_preparer.quote
    columns = ", ".join(f"{quote(n)} {table.c[n].type.compile(dialect=dialect)}" for n in (key, *names))
    sets = [f"{quote(n)} = v.{quote(n)}" for n in names] + [f"{quote(n)} = :a_{i}" for i, n in enumerate(also)]
    stmt = sa.text(f"UPDATE {dialect.identifier_preparer.format_table(table)} SET {', '.join(sets)} "
                   f"FROM json_to_recordset(CAST(:rows AS json)) AS v({columns}) "
                   f"WHERE {dialect.identifier_preparer.format_table(table)}.{quote(key)} = v.{quote(key)}")
    stmt = stmt.bindparams(*(sa.bindparam(f"a_{i}", type_=table.c[n].type) for i, n in enumerate(also)))
    latest = {row[key]: row for row in rows}  # the later of two rows for one key stands
    conn.execute(stmt, {"rows": json.dumps([row if type(row) is dict else dict(row) for row in latest.values()]),
                        **{f"a_{i}": v for i, v in enumerate(also.values())}})


def insert(target: Target, table: sa.Table, rows: Sequence[Row]) -> None:
    """Insert ``rows`` into ``table`` as fast as the backend allows: PostgreSQL ``COPY ... FROM STDIN`` in the
    transaction, each value first rendered by its column's bind processor as an INSERT would (no statement
    text to parse, no per-row protocol round); elsewhere :func:`executemany`. Rows whose keys differ from
    the first row's take SQLAlchemy's own executemany (their missing columns get their defaults)."""
    if not rows:
        return
    conn = _connection(target)
    keys = rows[0].keys()
    if any(row.keys() != keys for row in rows):
        conn.execute(sa.insert(table), [dict(row) for row in rows])
        return
    if conn.dialect.name != "postgresql":
        executemany(conn, sa.insert(table), rows)
        return
    names = list(keys)
    insert_columns(conn, table, names, [list(map(itemgetter(name), rows)) for name in names])


def insert_columns(target: Target, table: sa.Table, names: Sequence[str], columns: Sequence[Sequence[Any]]) -> None:
    """:func:`insert` of rows given a column at a time: ``columns[i]`` holds every row's value of column
    ``names[i]`` (all of the same length), so no dict is made per row on PostgreSQL."""
    if not columns or not len(columns[0]):
        return
    conn = _connection(target)
    dialect = conn.dialect
    if dialect.name != "postgresql":
        executemany(conn, sa.insert(table), [dict(zip(names, values, strict=True))
                                             for values in zip(*columns, strict=True)])
        return
    converted: list[Sequence[Any]] = []
    for name, values in zip(names, columns, strict=True):
        processor = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        converted.append(values if processor is None else list(map(_memoised(processor), values)))
    columns = converted
    quote = dialect.identifier_preparer.quote
    statement = (f"COPY {dialect.identifier_preparer.format_table(table)} "
                 f"({', '.join(quote(n) for n in names)}) FROM STDIN")
    dbapi = dialect.loaded_dbapi
    try:
        copy_columns(conn.connection.driver_connection, statement, columns)
    except dbapi.Error as exc:  # raised as SQLAlchemy raises it for its own statements (DataError, ...)
        raise sa.exc.DBAPIError.instance(statement, None, exc, dbapi.Error) from exc


_TIMES = (datetime, date, time)
_ZONED = (datetime, time)


def _has_time(values: list[Any]) -> bool:
    """Whether a column's values include dates or times (its first value not None tells)."""
    return isinstance(next((v for v in values if v is not None), None), _TIMES)


def _copy_texts(transformer: Any) -> Callable[[Any], Any]:
    """A COPY value as psycopg writes it, a date or time made text once per distinct value: psycopg renders each
    datetime anew (~2.5 µs, most of a result row's formatting), and a batch's timestamps are a few values repeated
    (its ``now``, the hub's ``retrieved_at``). The text is psycopg's own dumper's, so the row is unchanged."""
    seen: dict[tuple[Any, Any], Any] = {}

    def text(value: Any) -> Any:
        if not isinstance(value, _TIMES):
            return value
        key = (value, getattr(value, "tzinfo", None))  # equal instants in two offsets are written as given
        try:
            return seen[key]
        except KeyError:
            dumped = transformer.get_dumper(value, PyFormat.TEXT).dump(value)
            out = seen[key] = bytes(dumped).decode()
            return out

    return text


def copy_columns(raw: Any, statement: str, columns: Sequence[Sequence[Any]]) -> None:
    """Run ``statement`` (a ``COPY ... FROM STDIN`` in text format) on ``raw`` (a psycopg connection) with the
    rows whose values ``columns`` holds, column by column. The data is written as one text (``copy_text``: the
    bytes psycopg's ``write_row`` would send, tested equal) when every value is of a type that covers; otherwise
    row by row through psycopg's ``write_row``, each distinct date or time rendered once (``_copy_texts``)."""
    text = copy_text(columns) if raw.info.encoding == "utf-8" else None
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        if text is not None:
            for chunk in text:
                copy.write(chunk)
        else:
            texts = _copy_texts(copy.formatter.transformer)
            columns = [list(map(texts, values)) if _has_time(values) else values for values in columns]
            for values in zip(*columns, strict=True):
                copy.write_row(values)


# what COPY's text format escapes in a value (psycopg's ``_copy_base._dump_re``), and how
_COPY_SPECIAL = re.compile("[\b\t\n\v\f\r\x00\\\\]")  # (a backslash last, escaped for the pattern)
_COPY_SPECIALS = "\\\t\n\r\b\v\f\x00"  # the same characters, looked for one at a time (~25x the regex's speed)
_COPY_ESCAPES = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\v": "\\v", "\f": "\\f", "\r": "\\r",
                 "\\": "\\\\"}
_COPY_CHUNK = 10_000  # rows per piece of text handed to the driver
_NULL = "\\N"


def _special(text: str) -> bool:
    """Whether ``text`` holds a character COPY escapes (or a NUL)."""
    return any(c in text for c in _COPY_SPECIALS)


def _copy_escape(match: re.Match[str]) -> str:
    return _COPY_ESCAPES[match.group(0)]


def _copy_strings(values: Sequence[str | None]) -> list[str] | None:
    """COPY text of a column of strings (and NULLs); None if one holds a NUL (psycopg refuses it: left to it)."""
    plain = [v for v in values if v is not None]
    joined = "".join(plain)  # one scan of the whole column: nearly always nothing to escape
    if _special(joined):
        if "\x00" in joined:
            return None
        sub = _COPY_SPECIAL.sub
        values = [v if v is None else sub(_copy_escape, v) for v in values]
    if len(plain) == len(values):
        return values  # type: ignore[return-value]
    return [_NULL if v is None else v for v in values]


def _copy_value(value: Any) -> str | None:
    """COPY text of one value as psycopg's text dumpers write it (None: a type not covered here)."""
    kind = type(value)
    if kind is str:
        if not _special(value):
            return value  # type: ignore[no-any-return]
        return None if "\x00" in value else _COPY_SPECIAL.sub(_copy_escape, value)
    if value is None:
        return _NULL
    if kind is bool:
        return "t" if value else "f"
    if kind is int or kind is datetime or kind is date:
        return str(value)  # psycopg's text dumpers: ``str(obj)``
    return None


def copy_text(columns: Sequence[Sequence[Any]]) -> list[str] | None:
    """The data of a text-format ``COPY ... FROM STDIN`` of these columns (each a sequence of one column's values,
    all of the same length), in pieces of up to ``_COPY_CHUNK`` rows: the bytes psycopg's ``Copy.write_row`` sends
    for each row (its text dumpers' output, escaped as its ``_dump_re``), written for a whole column at a time.
    None when a value is not a ``str``, ``int``, ``bool``, ``datetime``, ``date`` or None (exact types: an enum
    or another subclass dumps otherwise), or a string holds a NUL: the caller then writes row by row."""
    texts: list[list[str]] = []
    for values in columns:
        column: list[str] | None
        if set(map(type, values)) <= {str, type(None)}:
            column = _copy_strings(values)
            if column is None:
                return None
        else:
            # each distinct object written once (a batch's times, flags and small numbers are a few objects),
            # keyed by identity: equal values need not print alike (times of different offsets, True and 1)
            ids = list(map(id, values))
            written: dict[int, str] = {}
            for key, value in dict(zip(ids, values, strict=True)).items():
                text = _copy_value(value)
                if text is None:
                    return None
                written[key] = text
            column = list(map(written.__getitem__, ids))
        texts.append(column)
    if not texts:
        return None
    rows = len(texts[0])
    return ["\n".join(map("\t".join, zip(*(c[start:start + _COPY_CHUNK] for c in texts), strict=True))) + "\n"
            for start in range(0, rows, _COPY_CHUNK)]


def next_ids(target: Target, table: sa.Table, count: int) -> list[int]:
    """``count`` new ids of ``table``'s integer key ``id``, increasing: from its sequence on PostgreSQL; on
    SQLite following the largest (the write transaction holds the database, BEGIN IMMEDIATE, so nobody
    else takes them in between). The sequence's name is looked up once (a scalar subquery), not per id: as
    ``nextval(pg_get_serial_sequence(...))`` the lookup ran for every row, ~5 of the ~6 µs an id cost."""
    conn = _connection(target)
    if conn.dialect.name == "postgresql":
        stmt = sa.text("SELECT nextval((SELECT pg_get_serial_sequence(:t, 'id'))::regclass) "
                       "FROM generate_series(1, :n)")
        return sorted(conn.execute(stmt, {"t": table.name, "n": count}).scalars())
    start = conn.execute(sa.select(sa.func.coalesce(sa.func.max(table.c.id), 0))).scalar_one()
    return list(range(start + 1, start + 1 + count))


LOAD_CACHE_KIB = 256 * 1024


@contextmanager
def load_page_cache(target: Target, kib: int = LOAD_CACHE_KIB) -> Iterator[None]:
    """SQLite: a page cache of up to ``kib`` for a bulk load (the default 2 MiB thrashes once random-keyed
    indexes outgrow it: a 1M-student load slows down several times), restored afterwards. Elsewhere a no-op."""
    conn = _connection(target)
    if conn.dialect.name != "sqlite":
        yield
        return
    before = conn.exec_driver_sql("PRAGMA cache_size").scalar_one()
    conn.exec_driver_sql(f"PRAGMA cache_size = -{kib}")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size = {int(before)}")


def _memoised(processor: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``processor`` run once per distinct value; a datetime's offset is part of the value (equal instants in
    two offsets are distinct: SQLite stores the wall time as given)."""
    seen: dict[Hashable, Any] = {}

    def convert(value: Any) -> Any:
        if value is None:
            return processor(value)
        key = (value, value.tzinfo) if type(value) in _ZONED else value
        try:
            return seen[key]
        except KeyError:
            out = seen[key] = processor(value)
            return out
        except TypeError:  # unhashable
            return processor(value)

    return convert
