"""The families-at-risk report of a PKH period, as the last run that built it left it (``risk.service``).

``family_risk_report`` says which run built a period's report and what it counted; ``family_risk`` holds its
rows: one per (family, child or school record, reason). The rows of a period are replaced whole by each build.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field

from services.sync_hub.db import HubTable
from shared.db import BIG_ID


class FamilyRiskReportRow(HubTable, table=True):
    """One period's report: the build it comes from (cursors name it) and its counts."""

    __tablename__ = "family_risk_report"

    periode: str = Field(primary_key=True, max_length=8)
    build_id: str = Field(max_length=36)  # new with every build: a cursor of an older build is refused
    sync_run_id: str = Field(max_length=36)
    built_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    counts: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False))
    # where the build's inputs stood (``repository.inputs_stamp``): a run whose stamp is equal keeps this build
    inputs: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(sa.JSON, nullable=True))


class FamilyRiskRow(HubTable, table=True):
    """One reason one family is at risk in one period (or, ``error`` false, a component that ends)."""

    __tablename__ = "family_risk"
    __table_args__ = (sa.Index("ix_family_risk_periode_family", "periode", "family_seq"),
                      sa.Index("ix_family_risk_periode_region", "periode", "region"),
                      sa.Index("ix_family_risk_periode_school", "periode", "school"))

    # a build replaces the period's rows, so every run's build takes new ids (BIGINT since 0027)
    id: int | None = Field(default=None, sa_column=sa.Column(BIG_ID, primary_key=True))
    periode: str = Field(max_length=8)
    # the family's position in the report (by region, then KK number): what a cursor holds instead of the KK
    family_seq: int
    no_kk: str = Field(max_length=16)
    family_region: str = Field(max_length=10)  # the family's kode_wilayah
    # the school's region for a row about a school record, else the family's: what province / kabupaten filter
    region: str = Field(max_length=10)
    child_nik: str | None = Field(default=None, max_length=16)  # the registry member, when known
    age: int | None = None  # the member's age on the period's first day (tells siblings apart when masked)
    reason: str = Field(max_length=24)
    actor: str = Field(max_length=24)  # who can fix it
    error: bool  # false: not an error (the component ends: left school, graduated)
    system: str | None = Field(default=None, max_length=16)
    student_id: str | None = Field(default=None, max_length=64)
    school: str | None = Field(default=None, max_length=64)
    npsn: str | None = Field(default=None, max_length=8)
    months_below: list[int] = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))
    evidence: str | None = Field(default=None, max_length=32)  # what attributed an unlinked record to the family
    detail: str | None = Field(default=None, max_length=300)
    sync_run_id: str = Field(max_length=36)
