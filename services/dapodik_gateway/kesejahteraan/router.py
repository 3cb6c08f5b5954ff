"""``GET /api/v1/peserta-didik/{id}/kesejahteraan``: parse and delegate."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from services.dapodik_gateway import paging
from services.dapodik_gateway.access import student_scope
from services.dapodik_gateway.deps import SessionDep, authenticate, only_query_params
from services.dapodik_gateway.kesejahteraan import service
from shared.contracts.dapodik import KesejahteraanPd
from shared.errors import ERROR_RESPONSES, ErrorBody

router = APIRouter(prefix="/api/v1/peserta-didik", tags=["kesejahteraan"],
                   dependencies=[Depends(authenticate), Depends(student_scope)])


@router.get("/{peserta_didik_id}/kesejahteraan", response_model=list[KesejahteraanPd],
            responses={404: {"model": ErrorBody, "description": "No such student"}, **ERROR_RESPONSES},
            summary="The student's welfare programme rows (11 PIP, 12 PKH, 13 KPS, 14 KKS, 15 KIS), derived "
                    "from and kept consistent with the record", dependencies=[only_query_params()])
def kesejahteraan(session: SessionDep, peserta_didik_id: Annotated[str, Path(pattern=paging.UUID_PATTERN)]
                  ) -> list[KesejahteraanPd]:
    """The student's welfare programme rows as Dapodik lists them (11 PIP, 12 PKH, 13 KPS, 14 KKS, 15 KIS), derived
    from the record and kept consistent with it.
    """
    return service.of_student(session, peserta_didik_id)
