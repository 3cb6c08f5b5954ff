from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from services.sync_hub.deps import Reader, SessionDep
from services.sync_hub.risk import report
from services.sync_hub.risk.schemas import ExportFormat, ExportQuery, RiskQuery, SummaryQuery
from shared.contracts.common import Page
from shared.contracts.risk import FamilyAtRisk, RiskSummary

router = APIRouter(prefix="/api/v1/families-at-risk", tags=["families at risk"])
_ERRORS = {404: {"description": "No report for the period (a sync run with it builds one)"},
           409: {"description": "The cursor comes from a report built again since"}}


@router.get("", response_model=Page[FamilyAtRisk], responses=_ERRORS,
            summary="PKH families whose education component is at risk in a period, each with its reasons and who "
                    "can fix each; NIKs and KK numbers masked")
def list_families(session: SessionDep, _: Reader, query: Annotated[RiskQuery, Query()]) -> Page[FamilyAtRisk]:
    """PKH families whose education component is at risk in a period, each with its reasons and who can fix each
    (school, madrasah, registry); NIKs and KK numbers masked. 409 when a cursor outlived a rebuild of the report
    (start again from the first page).
    """
    return report.page(session, query)


@router.get("/summary", response_model=RiskSummary, responses=_ERRORS,
            summary="The period's counts: families at risk, by reason, by province")
def summary(session: SessionDep, _: Reader, query: Annotated[SummaryQuery, Query()]) -> RiskSummary:
    """The period's counts: families at risk, by reason and by province."""
    return report.summary(session, query.periode)


@router.get("/export", responses={**_ERRORS, 200: {"content": {"text/csv": {}, report.XLSX_TYPE: {}}}},
            summary="The report's rows (the filters of the list) as a CSV or XLSX file")
def export(session: SessionDep, _: Reader,
           query: Annotated[ExportQuery, Query()]) -> StreamingResponse:
    """The report's rows with the same filters as the list, as a CSV or XLSX file (`format`)."""
    periode, filters = report.export_target(session, query)
    name = f"families-at-risk-{periode}.{query.format.value}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if query.format is ExportFormat.XLSX:
        return StreamingResponse(report.file_chunks(report.xlsx_file(session, periode, filters)),
                                 media_type=report.XLSX_TYPE, headers=headers)
    return StreamingResponse(report.file_chunks(report.csv_file(session, periode, filters)),
                             media_type="text/csv; charset=utf-8", headers=headers)
