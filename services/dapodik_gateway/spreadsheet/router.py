"""``/api/v1/sekolah/{npsn}/peserta-didik/import|export``: parse and delegate."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from services.dapodik_gateway import paging
from services.dapodik_gateway.access import Role, require_roles, school_scope
from services.dapodik_gateway.deps import (
    BodyDep,
    ClientDep,
    SessionDep,
    WriteSessionDep,
    authenticate,
    only_query_params,
)
from services.dapodik_gateway.spreadsheet import service
from shared import spreadsheet as sheets
from shared.contracts.dapodik import ImportReport
from shared.errors import ERROR_RESPONSES, ErrorBody, InvalidInput
from shared.spreadsheet import FileFormat

router = APIRouter(prefix="/api/v1/sekolah/{npsn}/peserta-didik", tags=["spreadsheet"],
                   dependencies=[Depends(authenticate), Depends(school_scope)])
Npsn = Annotated[str, Path(pattern=paging.NPSN_PATTERN)]
_RESPONSES = {404: {"model": ErrorBody, "description": "No such school"}, **ERROR_RESPONSES}


@router.get("/export", responses={200: {"content": {t: {} for t in sheets.MEDIA_TYPES.values()},
                                        "description": "The school's students, Dapodik's export columns"},
                                  **_RESPONSES},
            summary="Download the school's students as CSV or XLSX", dependencies=[only_query_params("format")])
def export_students(session: SessionDep, npsn: Npsn, format: FileFormat) -> Response:
    """A CSV or XLSX (`format`) of the school's students with Dapodik column names; hub-written values are read-only
    columns.
    """
    content, media_type, filename = service.export_students(session, npsn, format)
    return Response(content, media_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@router.post("/import", response_model=ImportReport, responses=_RESPONSES,
             openapi_extra={"requestBody": {"required": True, "content": {
                 t: {"schema": {"type": "string", "format": "binary"}} for t in sheets.MEDIA_TYPES.values()}}},
             summary="Upload a CSV or XLSX of the school's students (the file is the request body): all rows or "
                     "none; a bad file is a 422 naming each bad cell as rows[<row>].<column>",
             dependencies=[require_roles(Role.OPERATOR, Role.SCHOOL), only_query_params("format")])
def import_students(
    request: Request, session: WriteSessionDep, client: ClientDep, npsn: Npsn, body: BodyDep,
    format: Annotated[FileFormat | None, Query(description="Default: from the Content-Type")] = None,
) -> ImportReport:
    """The request body is the file itself (CSV or XLSX). All rows or none: a bad file is a 422 naming each bad cell as
    `rows[<row>].<column>` and the rule; hub-written columns are refused.
    """
    fmt = format or sheets.format_of(request.headers.get("content-type"))
    if fmt is None:
        raise InvalidInput.field("format", "missing", "say format=csv or format=xlsx, or send the file with "
                                 "Content-Type text/csv or the XLSX media type")
    return service.import_students(session, npsn, body, fmt, client)
