"""Opaque keyset cursors: over ``(updated_at, id)`` (``Cursor``: safe when many rows share one timestamp) and over
the id alone (``IdCursor``: a range of a feed read in id order)."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from datetime import datetime

from shared.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class Cursor:
    at: datetime
    key: str

    def encode(self) -> str:
        raw = json.dumps([self.at.isoformat(), self.key], separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str, field: str = "cursor") -> Cursor:
        try:
            padded = token + "=" * (-len(token) % 4)
            at, key = json.loads(base64.urlsafe_b64decode(padded.encode()))
            return cls(datetime.fromisoformat(at), str(key))
        except (ValueError, TypeError) as exc:
            raise InvalidInput.field(field, "opaque_cursor", "cursor is not one this service issued") from exc


_ID = re.compile(r"^[^\x00]{1,64}$")


@dataclass(frozen=True, slots=True)
class IdCursor:
    """An opaque position in a range of a feed read in id order (the gateways' ``id_after`` / ``id_upto``): the
    last id handed out (at most 64 characters, as the services' ids)."""

    key: str

    def encode(self) -> str:
        raw = json.dumps(["id", self.key], separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str, field: str = "cursor") -> IdCursor:
        try:
            kind, key = json.loads(base64.urlsafe_b64decode((token + "=" * (-len(token) % 4)).encode()))
            ok = kind == "id" and isinstance(key, str) and _ID.match(key) is not None
        except (ValueError, TypeError):
            ok = False
        if not ok:
            raise InvalidInput.field(field, "opaque_cursor", "cursor is not one this service issued for a range of "
                                     "the feed (a range is paged in id order: give its own `next_cursor`)")
        return cls(key)


# The largest id of an INTEGER primary key (PostgreSQL's ``integer``; most of the services' autoincrement ids): a
# keyset cursor naming a larger one is not one a service issued, and bound as a parameter it overflows (a 500).
MAX_INTEGER_ID = 2**31 - 1
_DIGITS = re.compile(r"^[0-9]{1,19}$")


def row_id_after(token: str | None, field: str = "cursor", start: int = 0, largest: int = MAX_INTEGER_ID) -> int:
    """The row id a keyset cursor over an autoincrement id stands for (``start`` without one): ASCII digits naming an
    id the column can hold (``largest``: ``MAX_BIGINT`` for a BIGINT id). Anything else (another alphabet's digits, a
    number past ``largest``) is a 422."""
    if not token:
        return start
    if _DIGITS.match(token) is None or int(token) > largest:
        raise InvalidInput.field(field, "opaque_cursor", "cursor is not one this service issued")
    return int(token)
