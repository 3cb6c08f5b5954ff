"""Tables of what the hub wrote: provenance per written value, the value history, observed sequences."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field

from services.dapodik_gateway.db import DapodikTable, UTCDateTime
from shared.db import BIG_ID


class FieldProvenanceRow(DapodikTable, table=True):
    """One row per value the hub wrote: where it came from. The latest row per field is the current one."""

    __tablename__ = "field_provenance"
    __table_args__ = (sa.Index("ix_field_provenance_pd_field", "peserta_didik_id", "field", "id"),)

    # a row per value the hub writes: ~190 M in a national first sync, then every change (migration 0010)
    id: int | None = Field(default=None, sa_column=sa.Column(BIG_ID, primary_key=True))
    peserta_didik_id: str = Field(foreign_key="peserta_didik.peserta_didik_id", max_length=36)
    field: str = Field(max_length=40)
    value: str = Field(sa_type=sa.Text, description="The written value as JSON text")
    provenance_id: str = Field(sa_type=sa.Text)
    sync_run_id: str = Field(sa_type=sa.Text)
    source_system: str = Field(sa_type=sa.Text)
    source_record: str = Field(sa_type=sa.Text)
    source_version: int = Field(sa_type=sa.BigInteger)
    observed_seq: int = Field(sa_type=sa.BigInteger)
    retrieved_at: datetime = Field(sa_type=UTCDateTime)
    matched_by: str = Field(max_length=16)
    written_at: datetime = Field(sa_type=UTCDateTime)
    # the value's record hash in the hub's provenance ledger, as the hub sent it (null: a KIP SK, an older hub)
    record_hash: str | None = Field(default=None, max_length=64)


class ValueHistoryRow(DapodikTable, table=True):
    """Every change of a record's value: the old value is never lost (e.g. a KPS number replaced by the KIP
    number). ``source`` says who changed it (hub, sk, import, operator); hub and SK changes carry their
    provenance."""

    __tablename__ = "value_history"
    __table_args__ = (sa.Index("ix_value_history_pd_id", "peserta_didik_id", "id"),
                      sa.Index("ix_value_history_field_provenance_id", "field_provenance_id"))

    id: int | None = Field(default=None, sa_column=sa.Column(BIG_ID, primary_key=True))
    peserta_didik_id: str = Field(foreign_key="peserta_didik.peserta_didik_id", max_length=36)
    field: str = Field(max_length=40)
    old_value: str = Field(sa_type=sa.Text, description="JSON text")
    new_value: str = Field(sa_type=sa.Text, description="JSON text")
    changed_at: datetime = Field(sa_type=UTCDateTime)
    source: str = Field(default="hub", max_length=16, description="hub, sk, import, operator")
    changed_by: str | None = Field(default=None, max_length=64, description="Authenticated client name")
    provenance_id: str | None = Field(default=None, sa_type=sa.Text, description="The hub's provenance id")
    field_provenance_id: int | None = Field(
        default=None, sa_column=sa.Column(BIG_ID, sa.ForeignKey("field_provenance.id"), nullable=True))


class FieldObservationRow(DapodikTable, table=True):
    """The highest registry sequence at which the hub has observed each field's value, including
    observations that confirmed the value without changing it (no provenance row is written then).

    Without it, a value confirmed at seq 20 but written at seq 10 could be overwritten by a delayed
    result observed at seq 15."""

    __tablename__ = "field_observation"

    peserta_didik_id: str = Field(foreign_key="peserta_didik.peserta_didik_id", primary_key=True, max_length=36)
    field: str = Field(primary_key=True, max_length=40)
    observed_seq: int = Field(sa_type=sa.BigInteger)
    provenance_id: str = Field(sa_type=sa.Text)
    observed_at: datetime = Field(sa_type=UTCDateTime)
