"""The durable queue of PKH requests: one row per request, one per student in it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String
from sqlmodel import Field

from services.emis_gateway.base import EmisTable, UTCDateTime


class PkhRequestRow(EmisTable, table=True):
    """A request for PKH data: one student or every active student of a madrasah. PENDING until every
    student is answered; retried with backoff while the registry (through the hub) cannot be reached."""

    __tablename__ = "pkh_request"
    __table_args__ = (Index("ix_pkh_request_status_next_attempt_at", "status", "next_attempt_at"),
                      Index("ix_pkh_request_nsm_status", "nsm", "status"))

    id: str = Field(sa_type=String(36), primary_key=True)
    scope: str = Field(sa_type=String(10))
    nsm: str | None = Field(default=None, sa_type=String(12))
    siswa_id: str | None = Field(default=None, sa_type=String(64))
    requested_by: str = Field(sa_type=String(64))
    status: str = Field(sa_type=String(10))
    total: int = 0
    done: int = 0
    failed: int = 0
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    # Held by whoever is asking the hub for this request (the request thread or the worker) until then.
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, sa_type=String(300))
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class PkhRequestItemRow(EmisTable, table=True):
    """One student of a request and the hub's answer for it."""

    __tablename__ = "pkh_request_item"
    __table_args__ = (Index("ix_pkh_request_item_request_id_state_position", "request_id", "state", "position"),)

    request_id: str = Field(sa_type=String(36), foreign_key="pkh_request.id", primary_key=True)
    position: int = Field(sa_type=Integer, primary_key=True)
    siswa_id: str = Field(sa_type=String(64))
    state: str = Field(sa_type=String(10))
    outcome: str | None = Field(default=None, sa_type=String(32))
    detail: str | None = Field(default=None, sa_type=String(300))
    matched_by: str | None = Field(default=None, sa_type=String(16))
    sync_run_id: str | None = Field(default=None, sa_type=String(64))
    answered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
