"""Opaque keyset cursors over ``(updated_at, id)``: safe when many rows share one timestamp."""

from __future__ import annotations

import base64
import json
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
