"""HTTP routes of the pesantren domain: parse and delegate."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from services.emis_gateway.deps import PrincipalDep, SessionDep, require_client
from services.emis_gateway.paging import PageParams
from services.emis_gateway.pesantren import service
from shared.contracts.common import Page
from shared.contracts.emis import Pesantren
from shared.errors import ERROR_RESPONSES, ErrorBody

router = APIRouter(prefix="/api/v1/pesantren", tags=["pesantren"], dependencies=[Depends(require_client)])

NsppPath = Annotated[str, Path(pattern=r"^\d{12}$", description="Nomor Statistik Pondok Pesantren (12 digits)")]


@router.get("", response_model=Page[Pesantren], summary="Pesantren, keyset-paged by (updated_at, nspp); their "
            "santri are in /api/v1/siswa?nsm={nspp}")
def list_pesantren(session: SessionDep, principal: PrincipalDep,
                   params: Annotated[PageParams, Query()]) -> Page[Pesantren]:
    """Pesantren (Islamic boarding schools) as EMIS holds them, keyset-paged by (updated_at, nspp). Their santri are
    students too: `GET /api/v1/siswa?nsm={nspp}`.
    """
    return service.list_pesantren(session, params.cursor, params.limit, principal.scope)


@router.get("/{nspp}", response_model=Pesantren, summary="One pesantren",
            responses={404: {"model": ErrorBody, "description": "No such pesantren"}, **ERROR_RESPONSES})
def get_pesantren(session: SessionDep, principal: PrincipalDep, nspp: NsppPath) -> Pesantren:
    """One pesantren by its NSPP (12 digits)."""
    principal.ensure_institution(nspp, "nspp")
    return service.get_pesantren(session, nspp)
