"""Query of the change feed (the feed's wire models are in ``shared.contracts.kemensos``)."""

from __future__ import annotations

from pydantic import Field

from shared.contracts.common import Strict


class ChangesQuery(Strict):
    cursor: str | None = Field(None, max_length=200, description="`next_cursor` of the previous page")
    limit: int = Field(500, ge=1, le=1000, description="Page size, 1..1000")
    since_version: int | None = Field(
        None, ge=0, le=2**62, description="Only changes with a `version` above this one (a range of the feed: a "
        "first load read in parallel, or the feed after the version such a load stopped at)")
    until_version: int | None = Field(
        None, ge=0, le=2**62, description="Only changes with a `version` up to this one (the end of a range)")
