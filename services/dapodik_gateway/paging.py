"""Keyset paging, shared by every list of this service: over ``(last_update, id)`` with ``shared.cursor.Cursor``,
and over ``(sequence, id)`` with ``SeqCursor`` (the change feed, lists ordered by row id)."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, TypeVar

import sqlalchemy as sa
from fastapi import Query, Response
from pydantic import BaseModel

from shared.contracts.common import MAX_BIGINT
from shared.cursor import Cursor
from shared.errors import InvalidInput

T = TypeVar("T")

DEFAULT_LIMIT = 500
MAX_LIMIT = 1000
UUID_PATTERN = r"^[0-9a-f-]{36}$"
NPSN_PATTERN = r"^\d{8}$"
_UUID = re.compile(UUID_PATTERN)

CursorParam = Annotated[str | None, Query(max_length=200, description="Opaque; `next_cursor` of the previous page")]
LimitParam = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page (1..1000)")]


def json_response(model: BaseModel) -> Response:
    """The model serialised once. A route that returns a model has FastAPI dump it to a dict, validate that
    against ``response_model`` and serialise it again: for a page of 1,000 students with their provenance
    that costs more than reading the page. The route keeps ``response_model`` for the OpenAPI schema."""
    return Response(content=model.model_dump_json(), media_type="application/json")


def parse_cursor(token: str | None) -> Cursor | None:
    """Decode a cursor this service issued; anything else is a 422 naming ``cursor``."""
    if token is None:
        return None
    cursor = Cursor.decode(token)
    try:
        ok = cursor.at.tzinfo is not None and cursor.at.astimezone(UTC) is not None and _UUID.match(cursor.key)
    except OverflowError:  # e.g. year 1 at +05:00 has no UTC equivalent
        ok = False
    if not ok:
        raise InvalidInput.field("cursor", "opaque_cursor", "cursor is not one this service issued")
    return cursor


def after(stmt: sa.Select, at_col: sa.ColumnElement[datetime], key_col: sa.ColumnElement[str],
          cursor: Cursor | None, limit: int) -> sa.Select:
    """Rows strictly after ``cursor`` in (at, key) order; one extra row tells whether a next page exists."""
    if cursor is not None:  # a row-value comparison: both databases seek the (at, key) index to it
        stmt = stmt.where(sa.tuple_(at_col, key_col) > sa.tuple_(sa.literal(cursor.at, at_col.type),
                                                                 sa.literal(cursor.key, key_col.type)))
    return stmt.order_by(at_col, key_col).limit(limit + 1)


def cut(rows: Sequence[T], limit: int, key: Callable[[T], tuple[datetime, str]]) -> tuple[list[T], str | None]:
    """The page and the cursor of its last row, or no cursor when nothing follows."""
    page = list(rows[:limit])
    if len(rows) <= limit:
        return page, None
    at, k = key(page[-1])
    return page, Cursor(at, k).encode()


@dataclass(frozen=True, slots=True)
class SeqCursor:
    """An opaque position in an order by (sequence number, text key): the change feed (change_seq, id) and
    lists ordered by a row id. Safe under equal sequence numbers (one load or import gives all its
    records one change_seq): the key breaks the tie."""

    seq: int
    key: str = ""

    def encode(self) -> str:
        raw = json.dumps(["s", self.seq, self.key], separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str, field: str = "cursor") -> SeqCursor:
        try:
            kind, seq, key = json.loads(base64.urlsafe_b64decode((token + "=" * (-len(token) % 4)).encode()))
            ok = (kind == "s" and type(seq) is int and 0 <= seq <= MAX_BIGINT and isinstance(key, str)
                  and (key == "" or _UUID.match(key)))
        except (ValueError, TypeError):
            ok = False
        if not ok:
            raise InvalidInput.field(field, "opaque_cursor", "cursor is not one this service issued")
        return cls(seq, key)


def parse_seq_cursor(token: str | None, field: str = "cursor") -> SeqCursor | None:
    return None if token is None else SeqCursor.decode(token, field)


def after_seq(stmt: sa.Select, seq_col: sa.ColumnElement[int], key_col: sa.ColumnElement[str],
              cursor: SeqCursor | None, limit: int) -> sa.Select:
    """Rows strictly after ``cursor`` in (seq, key) order; one extra row tells whether more follow."""
    if cursor is not None:
        # A row-value comparison: both databases seek the (seq, key) index to it. Written as ``seq > s OR (seq = s
        # AND key > k)`` neither does: every page scanned the index from its start (one load gives all its records
        # one sequence number), so reading a feed of n records cost n²/2 rows.
        stmt = stmt.where(sa.tuple_(seq_col, key_col) > sa.tuple_(sa.literal(cursor.seq, seq_col.type),
                                                                   sa.literal(cursor.key, key_col.type)))
    return stmt.order_by(seq_col, key_col).limit(limit + 1)
