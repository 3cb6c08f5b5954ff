"""What each sync run did to each madrasah: one row per (madrasah, run), kept up to date batch by batch."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlmodel import Field

from services.emis_gateway.base import EmisTable, UTCDateTime


class SyncLogRow(EmisTable, table=True):
    """Counts of the hub's result items for the students of one madrasah in one sync run (or check)."""

    __tablename__ = "sync_log"
    __table_args__ = (Index("ix_sync_log_nsm_last_at", "nsm", "last_at"),)

    nsm: str = Field(sa_type=String(12), primary_key=True)
    sync_run_id: str = Field(sa_type=String(64), primary_key=True)
    first_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    last_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    items: int = 0
    applied: int = 0
    unchanged: int = 0
    stale: int = 0
    rejected: int = 0
    values_written: int = 0


class SyncBatchRow(EmisTable, table=True):
    """A result batch already counted in the sync log (its digest): a repeated batch (a retry) is applied
    as UNCHANGED and counted once."""

    __tablename__ = "sync_batch"

    sync_run_id: str = Field(sa_type=String(64), primary_key=True)
    digest: str = Field(sa_type=String(64), primary_key=True)
    received_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
