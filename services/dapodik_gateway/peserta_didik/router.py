"""``/api/v1/peserta-didik``: parse and delegate."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from services.dapodik_gateway import paging
from services.dapodik_gateway.access import limit_npsn, student_scope
from services.dapodik_gateway.deps import PrincipalDep, SessionDep, authenticate, only_query_params
from services.dapodik_gateway.peserta_didik import service
from services.dapodik_gateway.peserta_didik.schemas import RiwayatNilai
from shared.contracts.common import Page
from shared.contracts.dapodik import PesertaDidik
from shared.errors import ERROR_RESPONSES, ErrorBody
from shared.etag import etag_of

router = APIRouter(prefix="/api/v1/peserta-didik", tags=["peserta_didik"],
                   dependencies=[Depends(authenticate), Depends(student_scope)])

_NOT_FOUND = {404: {"model": ErrorBody, "description": "No such student (or school, for `npsn`)"},
              **ERROR_RESPONSES}
PesertaDidikId = Annotated[str, Path(pattern=paging.UUID_PATTERN, description="UUID")]


@router.get("", response_model=Page[PesertaDidik], responses=_NOT_FOUND,
            summary="Students with their hub values and provenance, keyset-paged on (last_update, id)",
            dependencies=[only_query_params("cursor", "limit", "npsn")])
def list_peserta_didik(
    session: SessionDep,
    principal: PrincipalDep,
    cursor: paging.CursorParam = None,
    limit: paging.LimitParam = paging.DEFAULT_LIMIT,
    npsn: Annotated[str | None, Query(pattern=paging.NPSN_PATTERN, description="Only this school")] = None,
) -> Response:
    """Students (peserta didik) with the values the hub wrote and their provenance, keyset-paged on (last_update, id);
    `npsn` filters one school.
    """
    return paging.json_response(service.list_peserta_didik(session, cursor, limit, limit_npsn(principal, npsn)))


@router.get("/{peserta_didik_id}", response_model=PesertaDidik, responses=_NOT_FOUND,
            summary="One student", dependencies=[only_query_params()])
def get_peserta_didik(session: SessionDep, peserta_didik_id: PesertaDidikId, response: Response) -> PesertaDidik:
    """One student with the hub's values and their provenance. The answer's `ETag` header is the record's version: send
    it back as `If-Match` on `PATCH` so a concurrent edit is refused (412) instead of overwritten.
    """
    record = service.get_peserta_didik(session, peserta_didik_id)
    response.headers["ETag"] = etag_of(record)
    return record


@router.get("/{peserta_didik_id}/riwayat", response_model=list[RiwayatNilai], responses=_NOT_FOUND,
            summary="History of the hub-writable values: every old value, the new one, when and from where",
            dependencies=[only_query_params()])
def riwayat(session: SessionDep, peserta_didik_id: PesertaDidikId) -> list[RiwayatNilai]:
    """The history of the hub-writable values of one student: every old value, the new one, when and from which source
    (sync run, KIP SK, operator).
    """
    return service.riwayat(session, peserta_didik_id)
