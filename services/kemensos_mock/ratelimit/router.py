"""Admin routes of the per-client rate limits (admin token). Parse and delegate only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from services.kemensos_mock.deps import ADMIN_DEPENDENCIES, LimiterDep
from services.kemensos_mock.openapi import UNAUTHORIZED, invalid, ok
from services.kemensos_mock.ratelimit.schemas import RateLimits

router = APIRouter(prefix="/api/v1/admin", tags=["admin"], dependencies=ADMIN_DEPENDENCIES,
                   responses={401: UNAUTHORIZED})


@router.get("/rate-limits", response_model=RateLimits, summary="Current per-client rate limits (admin)",
            description="Client name -> token bucket; `*` applies to clients without their own; `{}` means none.",
            responses={200: ok({"sync_hub": {"per_second": 50, "burst": 100}})})
def get_rate_limits(limiter: LimiterDep) -> RateLimits:
    return limiter.limits


@router.put(
    "/rate-limits",
    response_model=RateLimits,
    summary="Set per-client rate limits (admin)",
    description=(
        "Replaces the limits (`{}` removes them all); every bucket starts full. A client over its limit is "
        "answered 429 with `Retry-After` (seconds until a call is allowed again), before any work is done."
    ),
    responses={200: ok({"sync_hub": {"per_second": 50, "burst": 100}}),
               422: invalid("sync_hub.per_second", "greater_than", "Input should be greater than 0")},
)
def put_rate_limits(
    limiter: LimiterDep,
    limits: Annotated[RateLimits, Body(openapi_examples={
        "hub": {"summary": "The hub: 50 calls/s, bursts of 100", "value": {"sync_hub": {"per_second": 50,
                                                                                        "burst": 100}}},
        "off": {"summary": "No limits", "value": {}},
    })],
) -> RateLimits:
    limiter.configure(limits)
    return limiter.limits
