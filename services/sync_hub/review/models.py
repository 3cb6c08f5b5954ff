"""Clerical review: open cases (a student and its candidate families) and reviewers' decisions."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field

from services.sync_hub.db import HubTable


class ReviewCaseRow(HubTable, table=True):
    """One student the matcher could not decide alone. One open case per student at a time."""

    __tablename__ = "review_case"
    __table_args__ = (sa.Index("ix_review_case_student", "system", "student_id"),
                      sa.Index("ix_review_case_status_created", "status", "created_at", "id"))

    id: str = Field(primary_key=True, max_length=36)
    system: str = Field(max_length=16)
    student_id: str = Field(max_length=64)
    status: str = Field(max_length=16)  # OPEN | DECIDED | SUPERSEDED
    reason: str = Field(max_length=16)  # conflict | fallback
    detail: str | None = Field(default=None, max_length=300)
    student_fingerprint: str = Field(max_length=32)
    candidates_fingerprint: str = Field(max_length=32)
    student_json: str = Field(sa_column=sa.Column(sa.Text, nullable=False))  # what the reviewer compares
    candidates_json: str = Field(sa_column=sa.Column(sa.Text, nullable=False))  # candidates with evidence
    sync_run_id: str = Field(max_length=36)
    created_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))


class ReviewDecisionRow(HubTable, table=True):
    """A reviewer's decision: provenance for what the next runs write. Reversible, never deleted."""

    __tablename__ = "review_decision"
    __table_args__ = (sa.Index("ix_review_decision_student", "system", "student_id"),)

    id: str = Field(primary_key=True, max_length=36)
    case_id: str = Field(foreign_key="review_case.id", index=True, max_length=36)
    system: str = Field(max_length=16)
    student_id: str = Field(max_length=64)
    link: bool
    no_kk: str | None = Field(default=None, max_length=16)
    family_version: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger))
    student_fingerprint: str = Field(max_length=32)
    candidates_fingerprint: str = Field(max_length=32)
    reviewer: str = Field(max_length=64)
    reason: str = Field(max_length=300)
    decided_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    reversed_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True)))
    reversed_by: str | None = Field(default=None, max_length=64)
    reversal_reason: str | None = Field(default=None, max_length=300)
