"""``/api/v1/sekolah/{npsn}/kehadiran/...``: a school's attendance files for one PKH period (VERKOM CSV; CSV or
XLSX with Dapodik's field names). Parse and delegate; an upload is the request body."""

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
from services.dapodik_gateway.kehadiran import service
from shared import spreadsheet as sheets
from shared.contracts.common import KehadiranImportReport
from shared.errors import ERROR_RESPONSES, ErrorBody, InvalidInput
from shared.spreadsheet import FileFormat

router = APIRouter(prefix="/api/v1/sekolah/{npsn}/kehadiran", tags=["kehadiran"],
                   dependencies=[Depends(authenticate), Depends(school_scope)])
Npsn = Annotated[str, Path(pattern=paging.NPSN_PATTERN)]
Tahun = Annotated[int, Query(ge=2000, le=2100, description="Year of the PKH period")]
Tahap = Annotated[int, Query(ge=1, le=4, description="PKH stage: 1 Jan-Mar, 2 Apr-Jun, 3 Jul-Sep, 4 Oct-Dec")]
_RESPONSES = {404: {"model": ErrorBody, "description": "No such school"}, **ERROR_RESPONSES}
_UPLOAD = {"requestBody": {"required": True, "content": {
    t: {"schema": {"type": "string", "format": "binary"}} for t in sheets.MEDIA_TYPES.values()}}}
_VERKOM_UPLOAD = {"requestBody": {"required": True, "content": {
    "text/csv": {"schema": {"type": "string", "format": "binary"}}}}}
_IMPORTERS = require_roles(Role.OPERATOR, Role.SCHOOL)


def _download(content: bytes, media_type: str, filename: str, headers: dict[str, str] | None = None) -> Response:
    return Response(content, media_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"', **(headers or {})})


@router.post("/verkom/import", response_model=KehadiranImportReport, responses=_RESPONSES, openapi_extra=_VERKOM_UPLOAD,
             summary="Import the period's attendance from a VERKOM CSV (the body): rows matched by NISN, else NIK "
                     "Siswa; any problem is a 422 naming each row, column and rule, and nothing is imported",
             dependencies=[_IMPORTERS, only_query_params("tahun", "tahap")])
def import_verkom(session: WriteSessionDep, client: ClientDep, npsn: Npsn, body: BodyDep, tahun: Tahun,
                  tahap: Tahap) -> KehadiranImportReport:
    """The body is a VERKOM CSV for one period (`tahun`, `tahap`): rows matched by NISN, else by NIK Siswa. All rows or
    none: any problem is a 422 naming each row, column and rule.
    """
    return service.import_verkom(session, npsn, body, tahun, tahap, client)


@router.get("/verkom/export", response_class=Response,
            responses={200: {"content": {service.VERKOM_MEDIA_TYPE: {}},
                             "description": "The VERKOM CSV; header X-Students-Omitted: students the form cannot "
                                            "name (no NISN or NIK of their own)"},
                       409: {"model": ErrorBody, "description": "The students' effective days of a month differ"},
                       **_RESPONSES},
            summary="Export the period's attendance as a VERKOM CSV (one row per student, a blank block for a "
                    "month not held)", dependencies=[only_query_params("tahun", "tahap")])
def export_verkom(session: SessionDep, npsn: Npsn, tahun: Tahun, tahap: Tahap) -> Response:
    """The period's attendance in the VERKOM layout, one row per student; a month the school did not hold is a blank
    block.
    """
    content, media_type, filename, omitted = service.export_verkom(session, npsn, tahun, tahap)
    return _download(content, media_type, filename, {"X-Students-Omitted": str(omitted)})


@router.post("/import", response_model=KehadiranImportReport, responses=_RESPONSES, openapi_extra=_UPLOAD,
             summary="Import the period's attendance from a CSV or XLSX (the body): one row per student and month, "
                     "Dapodik field names; any problem is a 422 naming each row, column and rule, and nothing is "
                     "imported", dependencies=[_IMPORTERS, only_query_params("tahun", "tahap", "format")])
def import_table(
    request: Request, session: WriteSessionDep, client: ClientDep, npsn: Npsn, body: BodyDep, tahun: Tahun,
    tahap: Tahap, format: Annotated[FileFormat | None, Query(description="Default: from the Content-Type")] = None,
) -> KehadiranImportReport:
    """The body is a CSV or XLSX with one row per student and month, Dapodik field names. All rows or none: any problem
    is a 422 naming each row, column and rule.
    """
    fmt = format or sheets.format_of(request.headers.get("content-type"))
    if fmt is None:
        raise InvalidInput.field("format", "missing", "say format=csv or format=xlsx, or send the file with "
                                 "Content-Type text/csv or the XLSX media type")
    return service.import_table(session, npsn, body, fmt, tahun, tahap, client)


@router.get("/export", response_class=Response,
            responses={200: {"content": {t: {} for t in sheets.MEDIA_TYPES.values()}, "description": "The file"},
                       **_RESPONSES},
            summary="Export the period's attendance as CSV or XLSX: one row per student and month held, Dapodik "
                    "field names", dependencies=[only_query_params("tahun", "tahap", "format")])
def export_table(session: SessionDep, npsn: Npsn, tahun: Tahun, tahap: Tahap, format: FileFormat) -> Response:
    """The period's attendance as CSV or XLSX (`format`), one row per student and month held, Dapodik field names."""
    return _download(*service.export_table(session, npsn, format, tahun, tahap))
