"""The SKs applied, and the KIP issuances that matched no student."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field

from services.dapodik_gateway.db import DapodikTable, UTCDateTime


class SkKipRow(DapodikTable, table=True):
    """One decree: its number identifies it (posting it again applies nothing new)."""

    __tablename__ = "sk_kip"

    nomor_sk: str = Field(primary_key=True, max_length=60)
    tanggal_sk: date
    sumber: str = Field(max_length=40)
    first_received_at: datetime = Field(sa_type=UTCDateTime)
    last_received_at: datetime = Field(sa_type=UTCDateTime)
    client: str = Field(max_length=64)
    n_items: int
    n_applied: int
    n_unmatched: int


class KipTidakCocokRow(DapodikTable, table=True):
    """A KIP issuance of an SK that matched no student: listed for manual follow-up."""

    __tablename__ = "kip_tidak_cocok"
    __table_args__ = (sa.UniqueConstraint("nomor_sk", "peserta_didik_id", name="uq_kip_tidak_cocok_sk_pd"),
                      sa.Index("ix_kip_tidak_cocok_npsn_id", "npsn", "id"),
                      sa.Index("ix_kip_tidak_cocok_pd", "peserta_didik_id"))

    id: int | None = Field(default=None, primary_key=True)
    nomor_sk: str = Field(foreign_key="sk_kip.nomor_sk", max_length=60)
    peserta_didik_id: str = Field(max_length=36, description="As the SK names it (no such student here)")
    no_kip: str = Field(max_length=10)
    nm_kip: str = Field(max_length=100)
    nisn: str | None = Field(default=None, max_length=10)
    npsn: str | None = Field(default=None, max_length=8)
    alasan: str = Field(max_length=40)
    created_at: datetime = Field(sa_type=UTCDateTime)
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
