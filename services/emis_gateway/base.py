"""What every table of this service shares: its own metadata, and text/time helpers.

The tables hang off ``EmisTable`` (own SQLAlchemy registry, so own ``MetaData``) rather than the global
``SQLModel.metadata``: several services are imported into one test process, and the other gateway has
tables of the same names. Column types and the constraint naming convention come from ``shared.db``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import MetaData
from sqlalchemy.orm import registry
from sqlmodel import SQLModel

from shared import idempotency
from shared.db import NAMING_CONVENTION, UTCDateTime, unstorable_text

__all__ = ["EmisTable", "UTCDateTime", "as_utc", "storable", "utcnow"]


class EmisTable(SQLModel, registry=registry(metadata=MetaData(naming_convention=NAMING_CONVENTION))):
    """Base of every table of the EMIS gateway (``EmisTable.metadata`` is what Alembic compares)."""


IDEMPOTENCY = idempotency.table(EmisTable.metadata)  # answers of POSTs sent with an Idempotency-Key


def utcnow() -> datetime:
    return datetime.now(UTC)


def storable(text: str) -> bool:
    """Whether both databases can store ``text`` (no NUL, valid Unicode)."""
    return unstorable_text(text) is None


def as_utc(value: datetime) -> datetime | None:
    """``value`` in UTC, or None when it has no time zone or falls outside the representable range."""
    if value.tzinfo is None:
        return None
    try:
        return value.astimezone(UTC)
    except OverflowError:
        return None
