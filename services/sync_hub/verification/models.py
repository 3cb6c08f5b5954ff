from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field

from services.sync_hub.db import HubTable


class VerificationRow(HubTable, table=True):
    """The verification of one child for one PKH period, as the hub last decided and sent it.

    It is its own outbox: written PENDING with its facts before it is sent, settled with the registry's answer
    (APPLIED, UNCHANGED, STALE, NOT_FOUND) after; a job that dies between the two sends it again. ``provenance_id``
    is what the registry keeps as the hub's provenance; a new version of the facts gets a new one. Facts equal to
    the ones sent are not sent again.
    """

    __tablename__ = "education_verification"
    __table_args__ = (sa.Index("ix_education_verification_periode_region", "periode", "region"),)

    nik_anak: str = Field(primary_key=True, max_length=16)
    periode: str = Field(primary_key=True, max_length=8)
    provenance_id: str = Field(max_length=36, unique=True)
    version: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    observed_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    facts_hash: str = Field(max_length=64)
    payload: str = Field(sa_column=sa.Column(sa.Text, nullable=False))  # the VerifikasiPendidikan sent
    status: str = Field(max_length=16, index=True)
    detail: str | None = Field(default=None, max_length=300)
    # what the facts say, for reports without parsing the payload
    enrolled: bool
    active: bool
    months_below: list[int] = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))
    # the record the facts were read from (the current one), its school's region, and the family
    source_system: str = Field(max_length=16)
    source_record: str = Field(max_length=64)
    source_version: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    school: str = Field(max_length=64)
    region: str = Field(max_length=10)
    no_kk: str | None = Field(default=None, max_length=16, index=True)
    # the child's other records (another system, or left behind): [{"system", "student_id", "state"}]
    other_records: list[Any] = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))
    sync_run_id: str = Field(max_length=36, index=True)
    unit_id: str | None = Field(default=None, max_length=36)
    decided_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    sent_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True)))
