"""``/api/v1/sekolah/{npsn}/validasi`` and ``/api/v1/peserta-didik/{id}/validasi``: parse and delegate."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from services.dapodik_gateway import paging
from services.dapodik_gateway.access import school_scope, student_scope
from services.dapodik_gateway.deps import SessionDep, authenticate, only_query_params
from services.dapodik_gateway.validasi import service
from shared.contracts.common import Page
from shared.contracts.dapodik import StatusValidasi, ValidasiPesertaDidik
from shared.errors import ERROR_RESPONSES, ErrorBody

router = APIRouter(prefix="/api/v1", tags=["validasi"],
                   dependencies=[Depends(authenticate), Depends(school_scope), Depends(student_scope)])
_NOT_FOUND = {404: {"model": ErrorBody, "description": "No such school or student"}, **ERROR_RESPONSES}


@router.get("/sekolah/{npsn}/validasi", response_model=Page[ValidasiPesertaDidik], responses=_NOT_FOUND,
            summary="A school's students with validation findings; status_validasi=2 lists those held back "
                    "from sync", dependencies=[only_query_params("status_validasi", "cursor", "limit")])
def validasi_sekolah(
    session: SessionDep,
    npsn: Annotated[str, Path(pattern=paging.NPSN_PATTERN)],
    status_validasi: Annotated[StatusValidasi, Query(description="1: warnings and worse; 2: invalid only")
                               ] = StatusValidasi.WARNING,
    cursor: paging.CursorParam = None,
    limit: paging.LimitParam = paging.DEFAULT_LIMIT,
) -> Response:
    """A school's students with their validation findings (Dapodik's 'validasi'); `status_validasi=2` lists only those
    held back from sync (an INVALID finding). Keyset-paged.
    """
    return paging.json_response(service.for_school(session, npsn, status_validasi, cursor, limit))


@router.get("/peserta-didik/{peserta_didik_id}/validasi", response_model=ValidasiPesertaDidik,
            responses=_NOT_FOUND, summary="One student's validation findings", dependencies=[only_query_params()])
def validasi_peserta_didik(
    session: SessionDep, peserta_didik_id: Annotated[str, Path(pattern=paging.UUID_PATTERN)]
) -> ValidasiPesertaDidik:
    """One student's validation findings: each rule, its level (INVALID holds the record back, WARNING does not) and
    the field.
    """
    return service.for_student(session, peserta_didik_id)
