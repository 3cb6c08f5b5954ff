"""Keyset paging over ``(updated_at, key)``, the same for every list of this service."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from pydantic import Field
from sqlalchemy import Select, literal, tuple_
from sqlalchemy.orm import InstrumentedAttribute

from services.emis_gateway.base import as_utc, storable
from shared.contracts.common import Strict
from shared.cursor import Cursor
from shared.errors import InvalidInput

R = TypeVar("R")

DEFAULT_LIMIT = 500
MAX_LIMIT = 1000


class PageParams(Strict):
    """Query parameters of a paged list; an unknown parameter is a 422, not silently ignored."""

    cursor: str | None = Field(None, min_length=1, max_length=512,
                               description="Opaque: the `next_cursor` of the previous page")
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)


def decode(token: str | None, key_length: int = 64) -> Cursor | None:
    """A cursor this service issued, or a 422 naming ``cursor``."""
    if token is None:
        return None
    cursor = Cursor.decode(token, field="cursor")
    at = as_utc(cursor.at)
    if at is None or not 0 < len(cursor.key) <= key_length or not storable(cursor.key):
        raise InvalidInput.field("cursor", "opaque_cursor", "cursor is not one this service issued")
    return Cursor(at, cursor.key)


def after(stmt: Select[Any], at_col: InstrumentedAttribute[datetime], key_col: InstrumentedAttribute[str],
          cursor: Cursor | None, limit: int) -> Select[Any]:
    """Rows strictly after ``cursor`` in ``(at, key)`` order; one more than ``limit`` to know if more follow."""
    if cursor is not None:
        # A row-value comparison: both databases seek the (at, key) index to it. Written as ``at > a OR (at = a AND
        # key > k)`` neither does: every page scanned the index from its start (a load gives its records one
        # ``updated_at``), so reading a feed of n records cost n²/2 rows.
        stmt = stmt.where(tuple_(at_col, key_col) > tuple_(literal(cursor.at, at_col.type),
                                                           literal(cursor.key, key_col.type)))
    return stmt.order_by(at_col, key_col).limit(limit + 1)


def split(rows: Sequence[R], limit: int, position: Callable[[R], tuple[datetime, str]]) -> tuple[list[R], str | None]:
    """The page's rows and the cursor of the next page (None on the last page)."""
    items = list(rows[:limit])
    if len(rows) <= limit or not items:
        return items, None
    at, key = position(items[-1])
    return items, Cursor(at, key).encode()
