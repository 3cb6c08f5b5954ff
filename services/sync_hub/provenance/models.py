from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field

from services.sync_hub.db import HubTable

# the outbox rows whose answer the hub never recorded (``sync.push.replay`` sends them again): the predicate of
# ``ix_outbox_item_replay``, written as constants in the replay's read too, so that the planners (PostgreSQL's
# generic plans, SQLite) can see that the partial index covers it
REPLAY = ("PENDING", "FAILED")
REPLAY_WHERE = "status IN ('PENDING', 'FAILED')"
assert "status IN (" + ", ".join(f"'{s}'" for s in REPLAY) + ")" == REPLAY_WHERE


class OutboxItemRow(HubTable, table=True):
    """A result item the hub decided to push, written before it is sent (transactional outbox).

    ``id`` is the item's provenance id, so a gateway's provenance always points back here. Status moves
    from PENDING to the gateway's answer (APPLIED, UNCHANGED, STALE, NOT_FOUND, REJECTED) or FAILED.
    """

    __tablename__ = "outbox_item"
    # the replay's read (a region's units' rows not settled), the one read by unit or by status: partial, so
    # that a settled row's new version is entered in no index but the key's and the run's (0023)
    __table_args__ = (sa.Index("ix_outbox_item_replay", "unit_id", postgresql_where=sa.text(REPLAY_WHERE),
                               sqlite_where=sa.text(REPLAY_WHERE)),)

    id: str = Field(primary_key=True, max_length=36)
    sync_run_id: str = Field(foreign_key="sync_run.id", index=True, max_length=36)
    target_system: str = Field(max_length=16)
    student_id: str = Field(max_length=64)
    unit_id: str | None = Field(default=None, max_length=36)  # the work unit that sent it
    payload: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    status: str = Field(max_length=16)
    detail: str | None = Field(default=None, max_length=300)
    created_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    sent_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True)))


class ProvenanceRow(HubTable, table=True):
    """One value the hub wrote into a gateway, and where it came from (W3C PROV: entity, activity, agent)."""

    __tablename__ = "provenance"
    __table_args__ = (sa.Index("ix_provenance_target", "target_system", "target_record"),)

    id: str = Field(primary_key=True, max_length=36)
    # the item's id: an outbox row of a sync run, or an item a check returned (no outbox: the gateway applies
    # the check's answer itself); the activity: a sync run or a check (``hub_check``)
    provenance_id: str = Field(index=True, max_length=36)
    sync_run_id: str = Field(max_length=36)  # not indexed: no query reads provenance by run (0023)
    target_system: str = Field(max_length=16)
    target_record: str = Field(max_length=64)
    field: str = Field(max_length=40)
    value_json: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    source_system: str = Field(max_length=40)
    source_record: str = Field(max_length=80)
    source_version: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))  # the registry's numbers: 64-bit
    observed_seq: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    retrieved_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    matched_by: str = Field(max_length=16)
    written_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
