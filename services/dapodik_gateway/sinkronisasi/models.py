"""Sync bookkeeping: the change counter, what the hub has read of each school, and the sync log."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field

from services.dapodik_gateway.db import DapodikTable, UTCDateTime


class ChangeCounterRow(DapodikTable, table=True):
    """The sequence of record changes. A transaction that changes records takes the next value by
    incrementing this row, which it then holds locked until it commits: values become visible in commit
    order, so a reader that has seen value N will never later find a committed change below N."""

    __tablename__ = "change_counter"

    name: str = Field(primary_key=True, max_length=40)
    value: int = Field(sa_type=sa.BigInteger)


class SyncPositionRow(DapodikTable, table=True):
    """How far the hub has read each school's records in its feed: the last (change_seq, id) delivered.
    A record of the school after that position is a local change waiting to go out."""

    __tablename__ = "sync_position"

    sekolah_id: str = Field(foreign_key="sekolah.sekolah_id", primary_key=True, max_length=36)
    change_seq: int = Field(sa_type=sa.BigInteger)
    peserta_didik_id: str = Field(max_length=36)
    delivered_at: datetime = Field(sa_type=UTCDateTime)
    client: str = Field(max_length=64)


class TableSyncLogRow(DapodikTable, table=True):
    """One hub results batch as it touched one school (Dapodik's ``table_sync_log``): items created
    (the first hub values of a student), updated, in conflict (STALE), unchanged, rejected."""

    __tablename__ = "table_sync_log"
    __table_args__ = (sa.Index("ix_table_sync_log_sekolah_end", "sekolah_id", "end_sync", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    sekolah_id: str = Field(foreign_key="sekolah.sekolah_id", max_length=36)
    table_name: str = Field(default="peserta_didik", max_length=40)
    sync_run_id: str = Field(max_length=64)
    client: str = Field(max_length=64)
    begin_sync: datetime = Field(sa_type=UTCDateTime)
    end_sync: datetime = Field(sa_type=UTCDateTime)
    n_create: int = 0
    n_update: int = 0
    n_konflik: int = 0
    n_unchanged: int = 0
    n_rejected: int = 0
