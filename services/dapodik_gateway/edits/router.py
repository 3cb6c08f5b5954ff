"""``PATCH /api/v1/peserta-didik/{id}``: parse and delegate."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from services.dapodik_gateway import paging
from services.dapodik_gateway.access import Role, require_roles, student_scope
from services.dapodik_gateway.deps import ClientDep, WriteSessionDep, authenticate, only_query_params
from services.dapodik_gateway.edits import service
from shared.contracts.dapodik import PesertaDidik, PesertaDidikEdit
from shared.errors import ERROR_RESPONSES, ErrorBody
from shared.etag import IfMatch, etag_of

router = APIRouter(prefix="/api/v1/peserta-didik", tags=["peserta_didik"],
                   dependencies=[Depends(authenticate), require_roles(Role.OPERATOR, Role.SCHOOL),
                                 Depends(student_scope)])


@router.patch("/{peserta_didik_id}", response_model=PesertaDidik,
              responses={404: {"model": ErrorBody, "description": "No such student"},
                         412: {"model": ErrorBody, "description": "`If-Match` names a version the record no "
                               "longer has: read it again (nothing was changed)"},
                         403: {"model": ErrorBody, "description": "Not this credential's school, or the hub's"},
                         **ERROR_RESPONSES},
              summary="An operator's edit of a student's record: the fields given, all or nothing; validated "
                      "again; values the hub wrote are refused (hub_written)", dependencies=[only_query_params()])
def edit_peserta_didik(session: WriteSessionDep, client: ClientDep, change: PesertaDidikEdit,
                       peserta_didik_id: Annotated[str, Path(pattern=paging.UUID_PATTERN)], response: Response,
                       if_match: IfMatch = None) -> PesertaDidik:
    """An operator's edit of a student's record: only the fields given, all or nothing, validated again as on import;
    values the hub wrote are refused (`hub_written`). Optimistic concurrency: send the `ETag` of your last read as
    `If-Match`; a stale version is 412 and nothing changes. `If-Match` may be left out (the edit then applies to the
    current version; 428 is not used, so existing clients keep working); `*` matches any version. The answer carries
    the new `ETag`.
    """
    record = service.edit(session, peserta_didik_id, change, client, if_match)
    response.headers["ETag"] = etag_of(record)
    return record
