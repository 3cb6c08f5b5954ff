"""``POST /api/v1/peserta-didik/{id}/pkh-request``: parse and delegate (no session held: the service opens
short transactions around the call to the hub)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request

from services.dapodik_gateway import paging
from services.dapodik_gateway.access import Role, require_roles, student_scope
from services.dapodik_gateway.deps import ClientDep, authenticate, only_query_params
from shared.batching import run_waiting
from shared.contracts.dapodik import PermintaanPkh
from shared.errors import ERROR_RESPONSES, ErrorBody, UpstreamFailure
from shared.idempotency import IdempotencyKey
from shared.observability import metrics

router = APIRouter(prefix="/api/v1/peserta-didik", tags=["pkh requests"],
                   dependencies=[Depends(authenticate), Depends(student_scope)])

PesertaDidikId = Annotated[str, Path(pattern=paging.UUID_PATTERN, description="UUID")]
_RESPONSES = {404: {"model": ErrorBody, "description": "No such student"},
              403: {"model": ErrorBody, "description": "A student of another school (school operators)"},
              503: {"model": ErrorBody, "description": "The hub cannot decide now: nothing written, ask again later"},
              **ERROR_RESPONSES}


@router.post("/{peserta_didik_id}/pkh-request", response_model=PermintaanPkh, responses=_RESPONSES,
             summary="Request Data PKH for one student: decided by the hub now, saved in the same step",
             dependencies=[only_query_params(), require_roles(Role.OPERATOR, Role.SCHOOL)])
async def request_pkh(request: Request, peserta_didik_id: PesertaDidikId, client: ClientDep,
                      _key: IdempotencyKey = None) -> PermintaanPkh:
    """Request Data PKH for one student: the gateway asks the hub, which decides from the registry now; the answer is
    saved on the record in the same step. 503 when the hub or the registry is unreachable. Send an `Idempotency-Key`
    to make a retry safe.
    """
    try:
        # the blocking work in one hop to a thread; the answer is validated and serialised on the event loop (a
        # ``def`` route costs a second hop for that). Presses asked at once are done together, each answered as
        # alone (``service.Presses``); the thread waits for the press's batch: one of the batcher's own
        # (``shared.batching.run_waiting``), so that waiting presses are not capped by the default pool
        presses = request.app.state.pkh_presses
        answer = await run_waiting(presses.batches, presses.request, peserta_didik_id, client)
    except UpstreamFailure:
        metrics.pkh_request("dapodik_gateway", "FAILED")
        raise
    metrics.pkh_request("dapodik_gateway", "DONE")
    return answer
