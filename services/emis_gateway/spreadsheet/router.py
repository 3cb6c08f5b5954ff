"""HTTP routes of import and export (CSV, XLSX): parse and delegate. The upload is the request body."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Response, status
from pydantic import Field

from services.emis_gateway.deps import BodyDep, InstitutionDep, SessionDep, WriteSessionDep, require_client
from services.emis_gateway.spreadsheet import service
from shared import spreadsheet as sheets
from shared.contracts.common import Strict
from shared.contracts.emis import ImportReport
from shared.errors import ERROR_RESPONSES, ErrorBody, InvalidInput
from shared.spreadsheet import FileFormat

router = APIRouter(prefix="/api/v1/madrasah", tags=["import / export"], dependencies=[Depends(require_client)])
_RESPONSES = {404: {"model": ErrorBody, "description": "No such madrasah"}, **ERROR_RESPONSES}


class ImportParams(Strict):
    format: FileFormat | None = Field(None, description="csv or xlsx; default: from the Content-Type")
    dry_run: bool = Field(False, description="Check the file and report, write nothing")


class ExportParams(Strict):
    format: FileFormat = FileFormat.XLSX


@router.post("/{nsm}/siswa/import", response_model=ImportReport, responses=_RESPONSES,
             summary="Import students from a CSV or XLSX file (EMIS column names; the body is the file). Any bad "
                     "row: 422 naming each row, column and rule, and nothing is imported")
def import_siswa(nsm: InstitutionDep, session: WriteSessionDep, body: BodyDep, params: Annotated[ImportParams, Query()],
                 content_type: Annotated[str | None, Header()] = None) -> ImportReport:
    """The request body is the file itself (`text/csv` or the XLSX media type) with EMIS column names. All rows or
    none: any bad row is a 422 naming each `rows[<n>].<column>` and the rule, and nothing is written. `dry_run=true`
    validates and counts without writing.
    """
    fmt = params.format or sheets.format_of(content_type)
    if fmt is None:
        raise InvalidInput.field("format", "required", "say format=csv or format=xlsx (or send Content-Type "
                                 "text/csv or the XLSX media type)")
    return service.import_siswa(session, nsm, body, fmt, dry_run=params.dry_run)


@router.get("/{nsm}/siswa/export", responses={200: {"content": {t: {} for t in service.MEDIA_TYPES.values()},
                                                     "description": "The file"}, **_RESPONSES},
            response_class=Response, status_code=status.HTTP_200_OK,
            summary="Export the madrasah's students as CSV or XLSX (EMIS column names, with the server's and the "
                    "manual PKH data as read-only columns)")
def export_siswa(nsm: InstitutionDep, session: SessionDep, params: Annotated[ExportParams, Query()]) -> Response:
    """A CSV or XLSX (`format`) of the madrasah's students with EMIS column names; the server's and the manual PKH data
    are read-only columns an import ignores. NIKs are exported only to credentials scoped to this madrasah.
    """
    content, media_type, filename = service.export_siswa(session, nsm, params.format)
    return Response(content, media_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
