"""``POST /api/v1/hub/results``: parse and delegate."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response

from services.dapodik_gateway import paging
from services.dapodik_gateway.access import Role, require_roles
from services.dapodik_gateway.deps import ClientDep, WriteSessionDep, authenticate, only_query_params
from services.dapodik_gateway.results import service
from shared.contracts.common import HubResultBatch, HubResultBatchResponse
from shared.observability import metrics

router = APIRouter(prefix="/api/v1/hub", tags=["hub"], dependencies=[Depends(authenticate), require_roles(Role.HUB)])


@router.post("/results", response_model=HubResultBatchResponse, dependencies=[only_query_params()],
             summary="Apply the hub's results: per item all-or-nothing, answers in request order")
def post_results(batch: HubResultBatch, session: WriteSessionDep, client: ClientDep) -> Response:
    """The hub writes its results (PKH / KIP values with provenance): each item applied all or nothing, answers in
    request order; re-sending an item already applied changes nothing (idempotent per item).
    """
    answer = service.apply_batch(session, batch, client)
    metrics.result_batch("dapodik_gateway", answer)
    return paging.json_response(answer)
