"""Storage plumbing of this service: the table base, the UTC timestamp column type, the engine, Alembic.

Tables hang off ``DapodikTable`` (own SQLAlchemy registry, so own ``MetaData``) rather than the global
``SQLModel.metadata``: several services are imported into one test process, and the EMIS gateway has
tables of the same names (``field_provenance``...).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import Engine, MetaData, event
from sqlalchemy.orm import registry
from sqlmodel import SQLModel

from shared import db as shared_db

MIGRATIONS = Path(__file__).parent / "migrations"

# Execution option: start the SQLite transaction with BEGIN IMMEDIATE (take the write lock at once, so
# two writers queue on the busy timeout instead of failing when one upgrades a read snapshot).
SQLITE_IMMEDIATE = "sqlite_immediate"


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend.

    PostgreSQL stores ``timestamptz``; SQLite stores the UTC wall time as text (fixed width, so text
    order is time order and keyset comparisons work). Values come back aware, in UTC. Naive values
    are refused: a naive time is ambiguous (WIB? UTC?) and the conventions require UTC.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime; store timezone-aware UTC timestamps")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Named constraints, so that later revisions (batch mode on SQLite) can refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class DapodikTable(SQLModel, registry=registry(metadata=MetaData(naming_convention=NAMING_CONVENTION))):
    """Base of every table of this service (``DapodikTable.metadata`` is what Alembic compares)."""


def unstorable_text(text: str) -> str | None:
    """Why neither database can store ``text`` (NUL: PostgreSQL refuses it; lone surrogates: not UTF-8),
    or None when it can."""
    if "\x00" in text:
        return "nul_character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "not_utf8"
    return None


def make_engine(url: str) -> Engine:
    """``shared.db.make_engine`` plus correct SAVEPOINTs on SQLite.

    The pysqlite driver does not emit BEGIN before a SAVEPOINT, so the first SAVEPOINT opens the
    transaction and its RELEASE commits it: a later rollback of the request would not undo earlier
    items. SQLAlchemy's documented remedy: take transaction control from the driver and emit BEGIN.
    """
    engine = shared_db.make_engine(url)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _driver_autocommit(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            dbapi_conn.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin(conn: sa.Connection) -> None:
            immediate = conn.get_execution_options().get(SQLITE_IMMEDIATE, False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def migrate(url: str, revision: str = "head") -> None:
    shared_db.migrate(MIGRATIONS, url, revision)
