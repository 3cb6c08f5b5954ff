"""HTTP routes of the madrasah domain: parse and delegate."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from services.emis_gateway.deps import SessionDep, require_client
from services.emis_gateway.madrasah import service
from services.emis_gateway.paging import PageParams
from shared.contracts.common import Page
from shared.contracts.emis import Madrasah
from shared.errors import ERROR_RESPONSES, ErrorBody

router = APIRouter(prefix="/api/v1/madrasah", tags=["madrasah"], dependencies=[Depends(require_client)])

NsmPath = Annotated[str, Path(pattern=r"^\d{12}$", description="Nomor Statistik Madrasah (12 digits)")]


@router.get("", response_model=Page[Madrasah], summary="Madrasah, keyset-paged by (updated_at, nsm)")
def list_madrasah(session: SessionDep, params: Annotated[PageParams, Query()]) -> Page[Madrasah]:
    return service.list_madrasah(session, params.cursor, params.limit)


@router.get("/{nsm}", response_model=Madrasah, summary="One madrasah",
            responses={404: {"model": ErrorBody, "description": "No such madrasah"}, **ERROR_RESPONSES})
def get_madrasah(session: SessionDep, nsm: NsmPath) -> Madrasah:
    return service.get_madrasah(session, nsm)
