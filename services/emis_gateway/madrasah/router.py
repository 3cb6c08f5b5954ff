"""HTTP routes of the madrasah domain: parse and delegate."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from services.emis_gateway.deps import InstitutionDep, NsmPath, PrincipalDep, SessionDep, require_client
from services.emis_gateway.madrasah import service
from services.emis_gateway.paging import PageParams
from shared.contracts.common import Page
from shared.contracts.emis import Madrasah
from shared.errors import ERROR_RESPONSES, ErrorBody

router = APIRouter(prefix="/api/v1/madrasah", tags=["madrasah"], dependencies=[Depends(require_client)])

__all__ = ["NsmPath", "router"]


@router.get("", response_model=Page[Madrasah], summary="Madrasah, keyset-paged by (updated_at, nsm)")
def list_madrasah(session: SessionDep, principal: PrincipalDep,
                  params: Annotated[PageParams, Query()]) -> Page[Madrasah]:
    """Madrasah as EMIS 4.0 holds them, keyset-paged by (updated_at, nsm); an operator's credential sees only its own
    madrasah.
    """
    return service.list_madrasah(session, params.cursor, params.limit, principal.scope)


@router.get("/{nsm}", response_model=Madrasah, summary="One madrasah",
            responses={404: {"model": ErrorBody, "description": "No such madrasah"}, **ERROR_RESPONSES})
def get_madrasah(session: SessionDep, nsm: InstitutionDep) -> Madrasah:
    """One madrasah by its NSM (12 digits)."""
    return service.get_madrasah(session, nsm)
