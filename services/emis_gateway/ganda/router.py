"""HTTP routes of duplicate detection ("data ganda"): parse and delegate."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from services.emis_gateway.deps import InstitutionDep, PrincipalDep, SessionDep, require_client
from services.emis_gateway.ganda import service
from services.emis_gateway.paging import PageParams
from shared.contracts.common import Page
from shared.contracts.emis import DataGanda
from shared.errors import ERROR_RESPONSES, ErrorBody

router = APIRouter(prefix="/api/v1", tags=["data ganda"], dependencies=[Depends(require_client)])


def get_index(request: Request) -> service.DuplicateIndex:
    index: service.DuplicateIndex = request.app.state.ganda
    return index


IndexDep = Annotated[service.DuplicateIndex, Depends(get_index)]


@router.get("/data-ganda", response_model=Page[DataGanda],
            summary="Data ganda: people active in two or more madrasah (same valid NIK, else same name, birth "
                    "date and mother's name), each with every record")
def list_all(session: SessionDep, index: IndexDep, principal: PrincipalDep,
             params: Annotated[PageParams, Query()]) -> Page[DataGanda]:
    """Data ganda across EMIS: people active in two or more madrasah (same valid NIK, else same name, birth date and
    mother's name), each with every record, so operators can settle the current enrolment. Keyset-paged.
    """
    # a scoped operator sees the groups touching its institutions (with the other records: that is the point)
    return service.page(session, index, params.cursor, params.limit, principal.scope)


@router.get("/madrasah/{nsm}/data-ganda", response_model=Page[DataGanda],
            responses={404: {"model": ErrorBody, "description": "No such madrasah"}, **ERROR_RESPONSES},
            summary="Data ganda of one madrasah: its active students also active elsewhere, with both records")
def list_madrasah(session: SessionDep, index: IndexDep, nsm: InstitutionDep,
                  params: Annotated[PageParams, Query()]) -> Page[DataGanda]:
    """Each active student of this madrasah who is also active in another madrasah or pesantren, with both records side
    by side so the operator can settle which enrolment is current. Keyset-paged.
    """
    service.ensure_institution(session, nsm)  # 404 when unknown
    return service.page(session, index, params.cursor, params.limit, frozenset({nsm}))
