from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from services.sync_hub.checks.service import Checks
from services.sync_hub.deps import Gateway
from shared.contracts.hub import CheckRequest, CheckResponse
from shared.errors import ERROR_RESPONSES, Forbidden
from shared.openapi import body_example

router = APIRouter(prefix="/api/v1/checks", tags=["checks"])


@router.post("", response_model=CheckResponse, responses=ERROR_RESPONSES,
             summary="Decide up to 100 students now, from the records sent; answer with the items to apply",
             openapi_extra=body_example(CheckRequest, system="emis", peserta_didik=None))
async def check_students(request: Request, principal: Gateway, body: CheckRequest) -> CheckResponse:
    """What a gateway calls when an operator presses "Request Data PKH" for a student or an institution.

    The gateway sends the records (with their current hub fields) and each one's school region; the hub
    decides each outcome from its registry replica as stored (kept current in the background), records the
    check and the provenance of every value it returns, and answers with the outcomes and the result items.
    The gateway applies the items itself, in its own transaction. 503: the replica is not ready yet (keep
    the request PENDING and ask later). 403: a gateway asks only about its own system's students.
    """
    if body.system.value != principal.system:
        raise Forbidden.field("system", "own_system", f"client {principal.name} may check only "
                              f"{principal.system} students, not {body.system.value}")
    checks: Checks = request.app.state.checks
    # the blocking work in one hop to the thread pool; the answer is validated and serialised on the event loop
    # (a ``def`` route costs a second hop for that)
    return await run_in_threadpool(checks.check, body, principal.name)
