"""``ETag`` / ``If-Match`` on editable records (optimistic concurrency, RFC 9110 §13.1.1).

A record's ETag is a strong validator over its whole representation (the JSON the API answers): any change to
it, whoever made it (an operator, the hub's results, a KIP SK), gives another ETag. An edit that sends
``If-Match`` with an ETag the record no longer has is refused with 412 ``PreconditionFailed`` and changes
nothing; ``If-Match: *`` matches any existing record. ``If-Match`` may be left out: the edit then applies to
the current version (the behaviour clients had before ETags), which is documented on each route.
"""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import Header
from pydantic import BaseModel

from shared.errors import PreconditionFailed

IfMatch = Annotated[str | None, Header(
    alias="If-Match", max_length=1000,
    description="The `ETag` of the version you read: the edit is refused with 412 if the record changed since. "
                "Optional (without it the edit applies to the current version); `*` matches any version.",
    examples=['"9f2c61a0b4d7e3f1"'])]


def etag_of(record: BaseModel) -> str:
    """The record's ETag (quoted, strong): 16 hex digits of the SHA-256 of its JSON."""
    return '"' + hashlib.sha256(record.model_dump_json().encode()).hexdigest()[:16] + '"'


def check(if_match: str | None, current: BaseModel) -> None:
    """Raise 412 when ``If-Match`` is given and names none of the record's current version."""
    if if_match is None or if_match.strip() == "*":
        return
    tags = {t.strip().removeprefix("W/") for t in if_match.split(",")}
    if etag_of(current) not in tags:
        raise PreconditionFailed.field("If-Match", "stale", "the record changed since this ETag was read; read it "
                                       "again and re-apply the edit")
