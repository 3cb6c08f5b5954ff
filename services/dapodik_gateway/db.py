"""Storage plumbing of this service: the table base, the UTC timestamp column type, the engine, Alembic.

Tables hang off ``DapodikTable`` (own SQLAlchemy registry, so own ``MetaData``) rather than the global
``SQLModel.metadata``: several services are imported into one test process, and the EMIS gateway has
tables of the same names (``field_provenance``...).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, MetaData
from sqlalchemy.orm import registry
from sqlmodel import SQLModel

from shared import bulk
from shared import db as shared_db

MIGRATIONS = Path(__file__).parent / "migrations"

# The UTC timestamp type, constraint naming and SQLite transaction handling are shared by every service.
SQLITE_IMMEDIATE = shared_db.SQLITE_IMMEDIATE
UTCDateTime = shared_db.UTCDateTime
unstorable_text = shared_db.unstorable_text
# Set-wise writes (COPY on PostgreSQL, one prepared executemany on SQLite): shared with the other services.
executemany = bulk.executemany
bulk_insert = bulk.insert
next_ids = bulk.next_ids
NAMING_CONVENTION = shared_db.NAMING_CONVENTION


class DapodikTable(SQLModel, registry=registry(metadata=MetaData(naming_convention=NAMING_CONVENTION))):
    """Base of every table of this service (``DapodikTable.metadata`` is what Alembic compares)."""


def make_engine(url: str) -> Engine:
    return shared_db.make_engine(url)


def migrate(url: str, revision: str = "head") -> None:
    shared_db.migrate(MIGRATIONS, url, revision)
