"""Query of the change feed (the feed's wire models are in ``shared.contracts.kemensos``)."""

from __future__ import annotations

from pydantic import Field

from shared.contracts.common import Strict


class ChangesQuery(Strict):
    cursor: str | None = Field(None, max_length=200, description="`next_cursor` of the previous page")
    limit: int = Field(500, ge=1, le=1000, description="Page size, 1..1000")
