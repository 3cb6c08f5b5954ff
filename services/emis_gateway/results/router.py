"""HTTP route of the results domain: the hub's inbound batch."""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from services.emis_gateway.deps import ClientDep, WriteSessionDep, require_client
from services.emis_gateway.results import service
from shared.contracts.common import HubResultBatch, HubResultBatchResponse


async def raw_body(request: Request) -> bytes:
    """The request body as sent (already read by FastAPI): its digest tells a repeated batch."""
    return await request.body()


router = APIRouter(prefix="/api/v1/hub", tags=["hub"], dependencies=[Depends(require_client)])


@router.post("/results", response_model=HubResultBatchResponse,
             summary="Apply the hub's PKH results (per-item status in request order; idempotent)")
def post_results(batch: HubResultBatch, session: WriteSessionDep, client: ClientDep,
                 body: Annotated[bytes, Depends(raw_body)]) -> HubResultBatchResponse:
    return service.apply_batch(session, batch, client, digest=hashlib.sha256(body).hexdigest())
