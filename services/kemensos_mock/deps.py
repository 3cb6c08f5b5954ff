"""Request dependencies: the session (one transaction per request), bearer auth, fault injection."""

from __future__ import annotations

import asyncio
import math
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPBearer
from pydantic import SecretStr

from services.kemensos_mock.faults.service import FaultInjector, FaultKind, mark
from services.kemensos_mock.ratelimit.service import RateLimiter
from shared.auth import bearer_client
from shared.deps import SessionDep as SessionDep  # re-exported for the routers
from shared.deps import WriteSessionDep as WriteSessionDep
from shared.errors import InvalidInput, RateLimited


def _api_tokens(request: Request) -> dict[str, SecretStr]:
    return request.app.state.settings.api_tokens


def _admin_tokens(request: Request) -> dict[str, SecretStr]:
    token = request.app.state.settings.admin_token
    return {"admin": token} if token is not None else {}


def every_token(request: Request) -> dict[str, SecretStr]:
    """Every credential this service accepts (the gate in front of all routes)."""
    return {**_api_tokens(request), **_admin_tokens(request)}


require_client = bearer_client(_api_tokens)
require_admin = bearer_client(_admin_tokens)

ClientDep = Annotated[str, Depends(require_client)]
AdminDep = Annotated[str, Depends(require_admin)]

# Documentation only (the checks above do the work): shows the bearer schemes in /docs.
_api_scheme = HTTPBearer(auto_error=False, scheme_name="ApiToken",
                         description="A client token from KEMENSOS_API_TOKENS")
_admin_scheme = HTTPBearer(auto_error=False, scheme_name="AdminToken", description="KEMENSOS_ADMIN_TOKEN")


def get_faults(request: Request) -> FaultInjector:
    injector: FaultInjector = request.app.state.faults
    return injector


async def inject_faults(request: Request) -> None:
    """Delay and maybe fail the call, as the fault settings say (nothing when they are off)."""
    injector = get_faults(request)
    if not injector.config.active:
        return
    fault = injector.draw()
    if fault.delay_s > 0 or fault.kind is not FaultKind.NONE or fault.drip:
        mark(request.state, fault.describe(), injector.config if fault.drip else None)
    if fault.delay_s > 0:
        await asyncio.sleep(fault.delay_s)
    error = injector.error_for(fault)
    if error is not None:
        raise error


def get_limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.limiter
    return limiter


def enforce_rate_limit(request: Request, client: ClientDep) -> None:
    """429 with Retry-After when the client is over its token bucket (nothing when no limit applies)."""
    wait = get_limiter(request).acquire(client)
    if wait is not None:
        raise RateLimited(f"client {client} is over its rate limit", retry_after=max(1.0, math.ceil(wait)))


def forbid_unknown_query(request: Request) -> None:
    """A route that takes no query parameters refuses any (a typo is a 422, not silently ignored); routes
    with query parameters read them into a model that forbids unknown ones."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is not None and not dependant.query_params and request.query_params:
        name = next(iter(request.query_params))
        raise InvalidInput.field(name[:64], "extra_forbidden", "this route takes no query parameters")


# Every /api/v1 route (but admin) is authenticated first, then rate-limited per client, then exposed to
# injected faults.
API_DEPENDENCIES = [Depends(_api_scheme), Depends(require_client), Depends(forbid_unknown_query),
                    Depends(enforce_rate_limit), Depends(inject_faults)]
ADMIN_DEPENDENCIES = [Depends(_admin_scheme), Depends(require_admin), Depends(forbid_unknown_query)]

FaultsDep = Annotated[FaultInjector, Depends(get_faults)]
LimiterDep = Annotated[RateLimiter, Depends(get_limiter)]
