"""On-demand checks ("Request Data PKH"): each one recorded for audit, apart from sync runs."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field

from services.sync_hub.db import HubTable


class CheckRow(HubTable, table=True):
    """One check: who asked, for which system, when, and at which registry sequence it was decided."""

    __tablename__ = "hub_check"

    id: str = Field(primary_key=True, max_length=36)
    system: str = Field(max_length=16)
    client: str = Field(max_length=64)  # the authenticated client (the gateway) that asked
    created_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False, index=True))
    observed_seq: int = Field(default=0, sa_column=sa.Column(sa.BigInteger, nullable=False))
    students: int = 0
    items: int = 0  # result items returned (values the gateway is to write, with their provenance)


class CheckOutcomeRow(HubTable, table=True):
    """Each student's outcome in a check."""

    __tablename__ = "hub_check_outcome"

    check_id: str = Field(foreign_key="hub_check.id", primary_key=True, max_length=36)
    student_id: str = Field(primary_key=True, max_length=64)
    outcome: str = Field(max_length=24)
    matched_by: str = Field(max_length=16)
    detail: str | None = Field(default=None, max_length=300)
