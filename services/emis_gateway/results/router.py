"""HTTP route of the results domain: the hub's inbound batch."""

from __future__ import annotations

import hashlib

from fastapi import APIRouter, Depends

from services.emis_gateway.deps import BodyDep, ResultsWriterDep, WriteSessionDep, require_client
from services.emis_gateway.results import service
from shared.contracts.common import HubResultBatch, HubResultBatchResponse
from shared.observability import metrics

router = APIRouter(prefix="/api/v1/hub", tags=["hub"], dependencies=[Depends(require_client)])


@router.post("/results", response_model=HubResultBatchResponse,
             summary="Apply the hub's PKH results (per-item status in request order; idempotent)")
def post_results(principal: ResultsWriterDep, batch: HubResultBatch, session: WriteSessionDep,
                 body: BodyDep) -> HubResultBatchResponse:
    """The hub writes its PKH results (values with provenance), the hub's credential only: each item applied all or
    nothing, a status per item in request order; re-sending an item already applied changes nothing.
    """
    # the digest of the body as sent tells a repeated batch (a retry), counted once in the sync log
    answer = service.apply_batch(session, batch, principal.name, digest=hashlib.sha256(body).hexdigest())
    metrics.result_batch("emis_gateway", answer)
    return answer
