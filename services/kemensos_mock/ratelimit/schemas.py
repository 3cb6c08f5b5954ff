"""Per-client rate limit settings."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, RootModel, StringConstraints

from shared.contracts.common import Strict

DEFAULT_CLIENT = "*"


class RateLimit(Strict):
    """A token bucket: `burst` calls at once, refilled at `per_second` calls per second."""

    per_second: float = Field(..., gt=0, le=1_000_000, description="Sustained calls per second")
    burst: int = Field(..., ge=1, le=1_000_000, description="Calls allowed at once (bucket size)")


ClientName = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class RateLimits(RootModel[dict[ClientName, RateLimit]]):
    """Client name (as in `KEMENSOS_API_TOKENS`) -> its limit; `"*"` applies to clients without their own.
    Empty (the default): no limit."""

    root: dict[ClientName, RateLimit] = Field(default_factory=dict)
