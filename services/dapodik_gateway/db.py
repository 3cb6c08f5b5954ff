"""Storage plumbing of this service: the table base, the UTC timestamp column type, the engine, Alembic.

Tables hang off ``DapodikTable`` (own SQLAlchemy registry, so own ``MetaData``) rather than the global
``SQLModel.metadata``: several services are imported into one test process, and the EMIS gateway has
tables of the same names (``field_provenance``...).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine, MetaData
from sqlalchemy.orm import registry
from sqlmodel import SQLModel

from shared import db as shared_db

MIGRATIONS = Path(__file__).parent / "migrations"

# The UTC timestamp type, constraint naming and SQLite transaction handling are shared by every service.
SQLITE_IMMEDIATE = shared_db.SQLITE_IMMEDIATE
UTCDateTime = shared_db.UTCDateTime
unstorable_text = shared_db.unstorable_text
NAMING_CONVENTION = shared_db.NAMING_CONVENTION


class DapodikTable(SQLModel, registry=registry(metadata=MetaData(naming_convention=NAMING_CONVENTION))):
    """Base of every table of this service (``DapodikTable.metadata`` is what Alembic compares)."""


def make_engine(url: str) -> Engine:
    return shared_db.make_engine(url)


def migrate(url: str, revision: str = "head") -> None:
    shared_db.migrate(MIGRATIONS, url, revision)


def executemany(conn: sa.Connection, stmt: sa.Insert | sa.Update, rows: Sequence[dict[str, Any]]) -> None:
    """Run ``stmt`` once per row of ``rows`` (same keys in every row), as fast as the backend allows.

    PostgreSQL: the statement compiled once and the rows handed to psycopg's ``executemany`` (pipeline mode,
    one short statement parsed once; SQLAlchemy's multi-row INSERT texts are parsed anew each time). SQLite: the
    statement is compiled once and every value rendered once by its column type's bind processor (a
    timestamp shared by the whole batch only once), then handed to the driver's ``executemany``: the
    per-row parameter handling SQLAlchemy does costs more than the insert itself for batches of
    thousands of short rows."""
    if not rows:
        return
    compiled = stmt.compile(dialect=conn.dialect, column_keys=list(rows[0]))
    if compiled.positiontup is None:  # PostgreSQL (psycopg, named parameters): its executemany pipelines the rows
        names = [name for name in compiled.binds if name in rows[0]]
        # a name not in the rows is a literal of the statement itself
        fixed = {name: compiled.binds[name].effective_value for name in compiled.binds if name not in rows[0]}
        procs = {name: p for name in compiled.binds
                 if (p := compiled.binds[name].type.dialect_impl(conn.dialect).bind_processor(conn.dialect))}
        fixed = {name: procs[name](v) if name in procs and v is not None else v for name, v in fixed.items()}
        conn.exec_driver_sql(str(compiled), [
            {**fixed, **{name: (procs[name](row[name]) if name in procs and row[name] is not None else row[name])
                         for name in names}} for row in rows])
        return
    names = list(compiled.positiontup or ())
    getter = operator.itemgetter(*names)
    # Values rendered by column position and object identity (the rows hold them for the whole call, so
    # ids are not reused): the batch's one "now" is rendered once; hashing an aware datetime costs more.
    rendered: list[tuple[int, Callable[[Any], Any], dict[int, Any]]] = [
        (i, process, {}) for i, name in enumerate(names)
        if (process := compiled.binds[name].type.dialect_impl(conn.dialect).bind_processor(conn.dialect))]
    single = len(names) == 1
    params: list[Any] = []
    for row in rows:
        values = [getter(row)] if single else list(getter(row))
        for i, process, seen in rendered:
            raw = values[i]
            if raw is not None:
                out = seen.get(id(raw))
                if out is None:
                    out = seen[id(raw)] = process(raw)
                values[i] = out
        params.append(tuple(values))
    conn.exec_driver_sql(str(compiled), params)


def bulk_insert(conn: sa.Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (same keys in every row) into ``table`` as fast as the backend allows.

    PostgreSQL: ``COPY ... FROM STDIN`` on the connection's own transaction (each value rendered by its
    column type's bind processor first, as an INSERT would); SQLite: :func:`executemany`."""
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        executemany(conn, sa.insert(table), rows)
        return
    names = list(rows[0])
    getter = operator.itemgetter(*names)
    processors = [(i, process) for i, name in enumerate(names)
                  if (process := table.c[name].type.dialect_impl(conn.dialect).bind_processor(conn.dialect))]
    columns = ", ".join(conn.dialect.identifier_preparer.quote(n) for n in names)
    target = conn.dialect.identifier_preparer.format_table(table)
    statement = f"COPY {target} ({columns}) FROM STDIN"
    dbapi = conn.dialect.loaded_dbapi
    try:
        with (
            conn.connection.driver_connection.cursor() as cursor,  # type: ignore[union-attr]
            cursor.copy(statement) as copy,
        ):
            for row in rows:
                values = [getter(row)] if len(names) == 1 else list(getter(row))
                for i, process in processors:
                    if values[i] is not None:
                        values[i] = process(values[i])
                copy.write_row(values)
    except dbapi.Error as exc:  # as SQLAlchemy raises it for a statement it runs (DataError, IntegrityError...)
        raise sa.exc.DBAPIError.instance(statement, None, exc, dbapi.Error) from exc


def next_ids(conn: sa.Connection, table: sa.Table, count: int) -> list[int]:
    """``count`` new ids of ``table``'s integer key, increasing: from its sequence on PostgreSQL; on SQLite
    following the largest (the write transaction holds the database: BEGIN IMMEDIATE, so nobody else takes
    them in between)."""
    if conn.dialect.name == "postgresql":
        stmt = sa.text("SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)")
        return sorted(conn.execute(stmt, {"t": table.name, "n": count}).scalars())
    start = conn.execute(sa.select(sa.func.coalesce(sa.func.max(table.c.id), 0))).scalar_one()
    return list(range(start + 1, start + 1 + count))
