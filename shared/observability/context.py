"""The request id of the request being served (``X-Request-ID``: accepted when well formed, made otherwise,
returned on the answer and passed on by ``shared.clients``), kept in a context variable so log lines and
outbound calls made while serving it carry it."""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

HEADER = "X-Request-ID"
_ACCEPTABLE = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# a caller's id is kept only when it cannot carry a NIK or KK number (no run of 15+ digits) nor inject log text
_DIGITS = re.compile(r"\d{15,}")

request_id: ContextVar[str | None] = ContextVar("jembatan_request_id", default=None)


def accept_or_make(value: str | None) -> str:
    """The caller's id when it is acceptable, else a new one (32 hex digits)."""
    if value and _ACCEPTABLE.fullmatch(value) and not _DIGITS.search(value):
        return value
    return uuid.uuid4().hex


def current() -> str | None:
    return request_id.get()
