"""The hub's table base: its own SQLAlchemy registry (so its own MetaData), not the global
``SQLModel.metadata`` that other services' tables might join when several are imported in one process."""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlalchemy.orm import registry
from sqlmodel import SQLModel

from shared import idempotency
from shared.db import NAMING_CONVENTION


class HubTable(SQLModel, registry=registry(metadata=MetaData(naming_convention=NAMING_CONVENTION))):
    """Base of every hub table (``HubTable.metadata`` is what Alembic compares)."""


IDEMPOTENCY = idempotency.table(HubTable.metadata)  # answers of POSTs sent with an Idempotency-Key
