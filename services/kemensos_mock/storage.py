"""What every table of this service shares: its own metadata and a UTC timestamp column type.

The tables register in a metadata of their own (not ``SQLModel.metadata``), so another service's tables
imported into the same process (tests run every service in one interpreter) never mix with ours, and
Alembic's autogenerate compares only this service's schema. Constraint names follow one convention so
batch migrations on SQLite can refer to them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import BigInteger, DateTime, Integer, MetaData, literal
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import registry
from sqlalchemy.types import TypeDecorator
from sqlmodel import SQLModel

from shared.errors import InvalidInput

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Table(SQLModel, registry=registry(metadata=metadata)):
    """Base of every table of kemensos_mock."""


def unstorable_fields(record: BaseModel) -> list[str]:
    """Text fields of ``record`` neither database can store: a NUL character (PostgreSQL) or a lone UTF-16
    surrogate (not encodable as UTF-8). Both arrive through JSON escapes (``\\u0000``, ``\\ud800``)."""
    out = []
    for name in type(record).model_fields:
        value = getattr(record, name)
        if isinstance(value, str) and ("\x00" in value or any("\ud800" <= ch <= "\udfff" for ch in value)):
            out.append(name)
    return out


def reject_unstorable(record: BaseModel, prefix: str = "") -> None:
    """Raise a 422 naming the first field that cannot be stored (instead of a database error, a 500);
    ``prefix``: where ``record`` sits in the request body (``change.``)."""
    bad = unstorable_fields(record)
    if bad:
        raise InvalidInput.field(prefix + bad[0], "unstorable_text", "text with a NUL character or a lone surrogate "
                                 "cannot be stored")


# A registry version (and the sequence that hands them out): BIGINT on PostgreSQL (migration 0008; INTEGER before,
# which a national registry's changes would outgrow at 2^31), INTEGER on SQLite, whose integers are 8 bytes anyway.
VERSION = BigInteger().with_variant(Integer(), "sqlite")


def version_param(value: int) -> Any:
    """A registry version as a bound parameter of type BIGINT, whatever the column's type: a database migrated only
    up to 0007 still answers a version beyond INTEGER, given by a caller, by matching nothing (not a 500)."""
    return literal(value, BigInteger)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on both databases.

    PostgreSQL stores ``timestamptz``; SQLite stores the UTC wall time as text (fixed width with
    microseconds, so text order is time order). Naive values are taken as UTC; values read back are
    always aware UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
