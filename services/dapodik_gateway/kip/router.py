"""``POST /api/v1/kip/sk`` and ``GET /api/v1/kip/unmatched``: parse and delegate."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from services.dapodik_gateway import paging
from services.dapodik_gateway.access import Role, limit_npsn, require_roles
from services.dapodik_gateway.deps import (
    ClientDep,
    PrincipalDep,
    SessionDep,
    WriteSessionDep,
    authenticate,
    only_query_params,
)
from services.dapodik_gateway.kip import service
from shared.contracts.common import Page
from shared.contracts.dapodik import KipTidakCocok, SkKipBatch, SkKipResponse
from shared.errors import ERROR_RESPONSES, ErrorBody
from shared.idempotency import IdempotencyKey

router = APIRouter(prefix="/api/v1/kip", tags=["kip"], dependencies=[Depends(authenticate)])


@router.post("/sk", response_model=SkKipResponse,
             dependencies=[require_roles(Role.HUB, Role.OPERATOR), only_query_params()],
             responses={409: {"model": ErrorBody, "description": "The SK number was applied before with another "
                                                                 "date or issuer"}, **ERROR_RESPONSES},
             summary="Apply a KIP SK: sets penerima_kip, no_kip, nm_kip and replaces the KPS number (history "
                     "kept, provenance = the SK); idempotent; unmatched issuances are listed for follow-up")
def post_sk(batch: SkKipBatch, session: WriteSessionDep, client: ClientDep,
            _key: IdempotencyKey = None) -> SkKipResponse:
    """Apply a KIP decree (SK): for each issuance matched to a student sets penerima_kip, no_kip and nm_kip and
    replaces the KPS number, with history and provenance = the SK. Applying the same SK again changes nothing;
    issuances that match no student are listed (`GET /api/v1/kip/unmatched`). Send an `Idempotency-Key` to make a
    retry return the first answer. 409 when the SK contradicts the same SK as received before, or gives a KIP card
    another student holds: nothing is applied.
    """
    return service.apply_sk(session, batch, client)


@router.get("/unmatched", response_model=Page[KipTidakCocok], responses=ERROR_RESPONSES,
            dependencies=[only_query_params("npsn", "nomor_sk", "include_resolved", "cursor", "limit")],
            summary="KIP issuances that matched no student, for manual follow-up (open ones by default)")
def unmatched(
    session: SessionDep,
    principal: PrincipalDep,
    npsn: Annotated[str | None, Query(pattern=paging.NPSN_PATTERN, description="As the SK gave it")] = None,
    nomor_sk: Annotated[str | None, Query(min_length=1, max_length=60)] = None,
    include_resolved: bool = False,
    cursor: paging.CursorParam = None,
    limit: paging.LimitParam = paging.DEFAULT_LIMIT,
) -> Response:
    """KIP issuances of applied SKs that matched no student, for manual follow-up; open ones by default (`status`)."""
    return paging.json_response(service.unmatched(session, limit_npsn(principal, npsn), nomor_sk, include_resolved,
                                                  cursor, limit))
