"""HTTP routes of a madrasah's attendance files for one PKH period (VERKOM CSV; CSV or XLSX with EMIS's field
names): parse and delegate. An upload is the request body."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Response
from pydantic import Field

from services.emis_gateway.deps import BodyDep, InstitutionDep, SessionDep, WriteSessionDep, require_client
from services.emis_gateway.kehadiran import service
from shared import spreadsheet as sheets
from shared.contracts.common import KehadiranImportReport, Strict
from shared.errors import ERROR_RESPONSES, ErrorBody, InvalidInput
from shared.spreadsheet import FileFormat

router = APIRouter(prefix="/api/v1/madrasah", tags=["kehadiran"], dependencies=[Depends(require_client)])
_RESPONSES = {404: {"model": ErrorBody, "description": "No such madrasah"}, **ERROR_RESPONSES}
_CONFLICT = {409: {"model": ErrorBody, "description": "The institution has no NPSN, or (export) its students' "
                                                      "effective days of a month differ"}}
_UPLOAD = {"requestBody": {"required": True, "content": {
    t: {"schema": {"type": "string", "format": "binary"}} for t in sheets.MEDIA_TYPES.values()}}}
_VERKOM_UPLOAD = {"requestBody": {"required": True, "content": {
    "text/csv": {"schema": {"type": "string", "format": "binary"}}}}}


class Periode(Strict):
    tahun: int = Field(..., ge=2000, le=2100, description="Year of the PKH period")
    tahap: int = Field(..., ge=1, le=4, description="PKH stage: 1 Jan-Mar, 2 Apr-Jun, 3 Jul-Sep, 4 Oct-Dec")


class VerkomImportParams(Periode):
    dry_run: bool = Field(False, description="Check the file and report, write nothing")


class ImportParams(VerkomImportParams):
    format: FileFormat | None = Field(None, description="csv or xlsx; default: from the Content-Type")


class ExportParams(Periode):
    format: FileFormat = FileFormat.XLSX


def _download(content: bytes, media_type: str, filename: str, headers: dict[str, str] | None = None) -> Response:
    return Response(content, media_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"', **(headers or {})})


@router.post("/{nsm}/kehadiran/verkom/import", response_model=KehadiranImportReport,
             responses={**_RESPONSES, **_CONFLICT}, openapi_extra=_VERKOM_UPLOAD,
             summary="Import the period's attendance from a VERKOM CSV (the body): rows matched by NISN, else NIK "
                     "Siswa; any problem is a 422 naming each row, column and rule, and nothing is imported")
def import_verkom(nsm: InstitutionDep, session: WriteSessionDep, body: BodyDep,
                  params: Annotated[VerkomImportParams, Query()]) -> KehadiranImportReport:
    """The body is a VERKOM CSV for one period (`tahun`, `tahap`): rows matched by NISN, else by NIK Siswa. All rows or
    none: any problem is a 422 naming each row, column and rule. 409 when the institution has no NPSN (the VERKOM
    form names a school by its NPSN).
    """
    return service.import_verkom(session, nsm, body, params.tahun, params.tahap, dry_run=params.dry_run)


@router.get("/{nsm}/kehadiran/verkom/export", response_class=Response,
            responses={200: {"content": {service.VERKOM_MEDIA_TYPE: {}},
                             "description": "The VERKOM CSV; header X-Students-Omitted: students the form cannot "
                                            "name (no NISN or NIK of their own)"}, **_RESPONSES, **_CONFLICT},
            summary="Export the period's attendance as a VERKOM CSV (one row per student, a blank block for a "
                    "month not held)")
def export_verkom(nsm: InstitutionDep, session: SessionDep, params: Annotated[Periode, Query()]) -> Response:
    """The period's attendance in the VERKOM layout, one row per student; a month the madrasah did not hold is a blank
    block. 409 when the institution has no NPSN (the VERKOM form names a school by its NPSN).
    """
    content, media_type, filename, omitted = service.export_verkom(session, nsm, params.tahun, params.tahap)
    return _download(content, media_type, filename, {"X-Students-Omitted": str(omitted)})


@router.post("/{nsm}/kehadiran/import", response_model=KehadiranImportReport, responses=_RESPONSES,
             openapi_extra=_UPLOAD,
             summary="Import the period's attendance from a CSV or XLSX (the body): one row per student and "
                     "month, EMIS field names; any problem is a 422 naming each row, column and rule, and nothing "
                     "is imported")
def import_table(nsm: InstitutionDep, session: WriteSessionDep, body: BodyDep, params: Annotated[ImportParams, Query()],
                 content_type: Annotated[str | None, Header()] = None) -> KehadiranImportReport:
    """The body is a CSV or XLSX with one row per student and month, EMIS field names. All rows or none: any problem is
    a 422 naming each row, column and rule.
    """
    fmt = params.format or sheets.format_of(content_type)
    if fmt is None:
        raise InvalidInput.field("format", "required", "say format=csv or format=xlsx (or send Content-Type "
                                 "text/csv or the XLSX media type)")
    return service.import_table(session, nsm, body, fmt, params.tahun, params.tahap, dry_run=params.dry_run)


@router.get("/{nsm}/kehadiran/export", response_class=Response,
            responses={200: {"content": {t: {} for t in sheets.MEDIA_TYPES.values()}, "description": "The file"},
                       **_RESPONSES},
            summary="Export the period's attendance as CSV or XLSX: one row per student and month held, EMIS "
                    "field names")
def export_table(nsm: InstitutionDep, session: SessionDep, params: Annotated[ExportParams, Query()]) -> Response:
    """The period's attendance as CSV or XLSX (`format`), one row per student and month held, EMIS field names."""
    return _download(*service.export_table(session, nsm, params.format, params.tahun, params.tahap))
