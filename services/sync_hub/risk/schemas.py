"""Query parameters of the families-at-risk routes (unknown parameters are refused, each bad one named)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from shared.contracts.common import Strict
from shared.contracts.kemensos import PERIODE_PATTERN
from shared.contracts.risk import RiskReason


class RiskFilters(Strict):
    periode: str | None = Field(None, pattern=PERIODE_PATTERN, examples=["2026-T3"],
                                description="The PKH period (default: the report built last)")
    province: str | None = Field(None, pattern=r"^\d{2}$", description="2-digit province code (the school's "
                                 "region, or the family's for a child with no school record)")
    kabupaten: str | None = Field(None, pattern=r"^\d{4}$", description="4-digit kabupaten code (same)")
    school: str | None = Field(None, pattern=r"^[0-9A-Za-z-]{1,64}$",
                               description="NSM or sekolah_id of the school, or its NPSN")
    reason: RiskReason | None = None


class RiskQuery(RiskFilters):
    limit: int = Field(100, ge=1, le=1000, description="Families per page")
    cursor: str | None = Field(None, max_length=200)


class ExportFormat(StrEnum):
    CSV = "csv"
    XLSX = "xlsx"


class ExportQuery(RiskFilters):
    format: ExportFormat = ExportFormat.CSV


class SummaryQuery(Strict):
    periode: str | None = Field(None, pattern=PERIODE_PATTERN, examples=["2026-T3"])
