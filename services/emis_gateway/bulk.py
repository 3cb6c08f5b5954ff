"""One executemany with less per-row overhead than SQLAlchemy's, for the bulk writes of a result batch.

SQLAlchemy builds each row's parameters through the statement's bind processors: a result batch of 500
students is ~7,500 rows and ~10,000 timestamps that are nearly all the same few values (the batch's
``now``, the hub's ``retrieved_at``). Here the statement is compiled once, each column's bind processor
runs once per *distinct* value, and the rows go to the driver's ``executemany`` as tuples. Used on
SQLite (``qmark``) and PostgreSQL (psycopg, ``pyformat``: its ``executemany`` sends the rows in pipeline
mode, with the one short statement parsed once, where SQLAlchemy's multi-row INSERTs are long texts that
psycopg parses anew each time).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.dml import UpdateBase
from sqlmodel import Session


def executemany(session: Session, stmt: UpdateBase, rows: Sequence[Mapping[str, Any]]) -> None:
    """Execute ``stmt`` once per row; every row has the keys of the first (column names, or the names of
    the ``bindparam``s of a WHERE clause)."""
    if not rows:
        return
    conn = session.connection()
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


def _memoised(processor: Callable[[Any], Any]) -> Callable[[Any], Any]:
    seen: dict[Hashable, Any] = {}

    def convert(value: Any) -> Any:
        if value is None:
            return processor(value)
        try:
            return seen[value]
        except KeyError:
            out = seen[value] = processor(value)
            return out
        except TypeError:  # unhashable
            return processor(value)

    return convert



def insert(session: Session, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (every row with the keys of the first): PostgreSQL ``COPY ... FROM STDIN`` in the
    session's transaction, each value first rendered by its column's bind processor as an INSERT would
    (no statement text to parse, no per-row protocol round); elsewhere :func:`executemany`."""
    if not rows:
        return
    conn = session.connection()
    dialect = conn.dialect
    if dialect.name != "postgresql":
        executemany(session, sa.insert(table), rows)
        return
    names = list(rows[0])
    columns: list[list[Any]] = []
    for name in names:
        values = [row[name] for row in rows]
        processor = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        columns.append(values if processor is None else list(map(_memoised(processor), values)))
    quote = dialect.identifier_preparer.quote
    statement = (f"COPY {dialect.identifier_preparer.format_table(table)} "
                 f"({', '.join(quote(n) for n in names)}) FROM STDIN")
    dbapi = dialect.loaded_dbapi
    try:
        with (
            conn.connection.driver_connection.cursor() as cursor,  # type: ignore[union-attr]
            cursor.copy(statement) as copy,
        ):
            for values in zip(*columns, strict=True):
                copy.write_row(values)
    except dbapi.Error as exc:  # raised as SQLAlchemy raises it for its own statements (DataError, ...)
        raise sa.exc.DBAPIError.instance(statement, None, exc, dbapi.Error) from exc
