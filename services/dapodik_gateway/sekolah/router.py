"""``/api/v1/sekolah``: parse and delegate."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from services.dapodik_gateway import paging
from services.dapodik_gateway.access import school_scope
from services.dapodik_gateway.deps import PrincipalDep, SessionDep, authenticate, only_query_params
from services.dapodik_gateway.sekolah import service
from shared.contracts.common import Page
from shared.contracts.dapodik import Sekolah
from shared.errors import ERROR_RESPONSES, ErrorBody

router = APIRouter(prefix="/api/v1/sekolah", tags=["sekolah"], dependencies=[Depends(authenticate)])


@router.get("", response_model=Page[Sekolah], summary="Schools, keyset-paged on (last_update, sekolah_id)",
            dependencies=[only_query_params("cursor", "limit")])
def list_sekolah(session: SessionDep, principal: PrincipalDep, cursor: paging.CursorParam = None,
                 limit: paging.LimitParam = paging.DEFAULT_LIMIT) -> Page[Sekolah]:
    """Schools as Dapodik holds them, keyset-paged on (last_update, sekolah_id); an operator's credential sees only its
    own schools.
    """
    return service.list_sekolah(session, cursor, limit, only_npsn=principal.npsn)


@router.get("/{npsn}", response_model=Sekolah, summary="One school by NPSN",
            responses={404: {"model": ErrorBody, "description": "No such school"}, **ERROR_RESPONSES},
            dependencies=[Depends(school_scope), only_query_params()])
def get_sekolah(session: SessionDep, npsn: Annotated[str, Path(pattern=paging.NPSN_PATTERN)]) -> Sekolah:
    """One school by its NPSN (8 characters)."""
    return service.get_sekolah(session, npsn)
