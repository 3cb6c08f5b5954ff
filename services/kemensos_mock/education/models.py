"""Tables of education verification: the current state per (child, period) and every state received."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field

from services.kemensos_mock.storage import Table, UtcDateTime


class VerifikasiRow(Table, table=True):
    """The current verification of one child in one period (the newest by ``verified_at``)."""

    __tablename__ = "verifikasi_pendidikan"
    __table_args__ = (UniqueConstraint("nik_anak", "periode"),)

    id: int | None = Field(None, primary_key=True)
    nik_anak: str = Field(max_length=16, index=True)
    periode: str = Field(max_length=7)
    enrolled: bool
    active: bool
    npsn: str | None = Field(None, max_length=8)
    nsm: str | None = Field(None, max_length=12)
    sumber: str | None = Field(None, max_length=10)
    verified_at: datetime = Field(sa_type=UtcDateTime)
    received_at: datetime = Field(sa_type=UtcDateTime)
    client: str = Field(max_length=64)


class VerifikasiRiwayatRow(Table, table=True):
    """Every distinct verification state received (CREATED or UPDATED), never changed afterwards."""

    __tablename__ = "verifikasi_pendidikan_riwayat"
    __table_args__ = (Index("ix_verifikasi_pendidikan_riwayat_nik_anak_periode", "nik_anak", "periode"),)

    id: int | None = Field(None, primary_key=True)
    nik_anak: str = Field(max_length=16)
    periode: str = Field(max_length=7)
    enrolled: bool
    active: bool
    npsn: str | None = Field(None, max_length=8)
    nsm: str | None = Field(None, max_length=12)
    sumber: str | None = Field(None, max_length=10)
    verified_at: datetime = Field(sa_type=UtcDateTime)
    received_at: datetime = Field(sa_type=UtcDateTime)
    client: str = Field(max_length=64)
