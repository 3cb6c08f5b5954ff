"""Provenance of every value the hub wrote, the history of the values it replaced, observed sequences."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, ForeignKey, Index, String, Text
from sqlmodel import Field

from services.emis_gateway.base import EmisTable, UTCDateTime
from shared.db import BIG_ID


class FieldProvenanceRow(EmisTable, table=True):
    """One row per field written by one hub result item (the value is JSON text)."""

    __tablename__ = "field_provenance"
    __table_args__ = (Index("ix_field_provenance_siswa_field", "siswa_id", "field"),
                      Index("ix_field_provenance_sync_run_id", "sync_run_id"))

    # a row per value the hub writes (~4.3 per student in a first sync), then one per change (migration 0010)
    id: int | None = Field(default=None, sa_column=Column(BIG_ID, primary_key=True))
    siswa_id: str = Field(sa_type=String(64), foreign_key="siswa.siswa_id", nullable=False)
    field: str = Field(sa_type=String(40))
    value: str = Field(sa_type=Text, description="JSON text of the value written")
    provenance_id: str = Field(sa_type=Text)
    sync_run_id: str = Field(sa_type=Text)
    source_system: str = Field(sa_type=Text)
    source_record: str = Field(sa_type=Text)
    source_version: int = Field(sa_type=BigInteger)
    observed_seq: int = Field(sa_type=BigInteger)
    retrieved_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    matched_by: str = Field(sa_type=String(16))
    written_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    # the value's record hash in the hub's provenance ledger, as the hub sent it (null: from an older hub)
    record_hash: str | None = Field(default=None, sa_type=String(64))


class FieldHistoryRow(EmisTable, table=True):
    """The value a hub write replaced, with the provenance row of the write."""

    __tablename__ = "field_history"
    __table_args__ = (Index("ix_field_history_siswa_field", "siswa_id", "field"),)

    id: int | None = Field(default=None, sa_column=Column(BIG_ID, primary_key=True))
    siswa_id: str = Field(sa_type=String(64), foreign_key="siswa.siswa_id", nullable=False)
    field: str = Field(sa_type=String(40))
    old_value: str = Field(sa_type=Text, description="JSON text")
    new_value: str = Field(sa_type=Text, description="JSON text")
    changed_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    provenance_id: int = Field(
        sa_column=Column(BIG_ID, ForeignKey("field_provenance.id"), nullable=False, index=True))


class FieldObservationRow(EmisTable, table=True):
    """The highest registry sequence at which the hub observed each field's value, including observations
    that confirmed the value without changing it (no provenance row is written then).

    Without it, a value written at seq 10 and confirmed at seq 20 could be overwritten by a delayed result
    observed at seq 15.
    """

    __tablename__ = "field_observation"

    siswa_id: str = Field(sa_type=String(64), foreign_key="siswa.siswa_id", primary_key=True)
    field: str = Field(sa_type=String(40), primary_key=True)
    observed_seq: int = Field(sa_type=BigInteger)
    provenance_id: str = Field(sa_type=Text)
    observed_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
