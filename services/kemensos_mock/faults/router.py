"""Admin routes of fault injection (admin token). Parse and delegate only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from services.kemensos_mock.deps import ADMIN_DEPENDENCIES, FaultsDep
from services.kemensos_mock.faults.schemas import FaultConfig
from services.kemensos_mock.openapi import UNAUTHORIZED, invalid, ok

router = APIRouter(prefix="/api/v1/admin", tags=["admin"], dependencies=ADMIN_DEPENDENCIES,
                   responses={401: UNAUTHORIZED})


_FLAKY = FaultConfig(latency_median_ms=40, latency_p99_ms=900, error_rate=0.05, rate_limit_rate=0.02,
                     retry_after_s=2, drip_rate=0.01, feed_redeliver_rate=0.05, seed=7).model_dump(mode="json")


@router.get("/faults", response_model=FaultConfig, summary="Current fault injection (admin)",
            description="What `/api/v1` calls currently suffer; all zero means off.", responses={200: ok(_FLAKY)})
def get_faults(faults: FaultsDep) -> FaultConfig:
    return faults.config


@router.put(
    "/faults",
    response_model=FaultConfig,
    summary="Set fault injection (admin)",
    description=(
        "Replaces the fault settings (fields left out take their defaults, so `{}` switches every fault "
        "off) and restarts the generator from `seed`. Applies to every `/api/v1` call except the admin "
        "ones, after authentication; `/health` is never affected."
    ),
    responses={200: ok(_FLAKY),
               422: invalid("error_rate", "less_than_equal", "Input should be less than or equal to 1")},
)
def put_faults(
    faults: FaultsDep,
    config: Annotated[FaultConfig, Body(openapi_examples={
        "flaky": {"summary": "10% 5xx, 5% 429, 50-150 ms latency", "value": {
            "latency_ms": 50, "latency_jitter_ms": 100, "error_rate": 0.1, "rate_limit_rate": 0.05,
            "retry_after_s": 2, "seed": 7}},
        "national": {"summary": "A stressed national server: lognormal latency, drips, feed re-deliveries",
                     "value": {k: v for k, v in _FLAKY.items() if v}},
        "off": {"summary": "Everything off", "value": {}},
    })],
) -> FaultConfig:
    faults.configure(config)
    return faults.config
