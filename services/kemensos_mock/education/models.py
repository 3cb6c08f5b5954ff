"""Tables of education verification: the current state per (child, period) and every state received."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, UniqueConstraint
from sqlmodel import JSON, Field

from services.kemensos_mock.storage import Table, UtcDateTime


class _Verifikasi(Table):
    """The columns both tables share. ``kehadiran`` is the VERKOM months as JSON ([{bulan, hari_efektif,
    alpa, izin, sakit, persen_hadir, memenuhi_85}]); provenance columns are empty on rows received before
    attendance was part of the contract (migration 0006)."""

    id: int | None = Field(None, primary_key=True)
    nik_anak: str = Field(max_length=16)
    periode: str = Field(max_length=7)
    enrolled: bool
    active: bool
    npsn: str | None = Field(None, max_length=8)
    nsm: str | None = Field(None, max_length=12)
    sumber: str | None = Field(None, max_length=10)
    kehadiran: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSON)
    keterangan: str | None = Field(None, max_length=200)
    provenance_id: str | None = Field(None, max_length=64)
    source_system: str | None = Field(None, max_length=10)
    source_record: str | None = Field(None, max_length=64)
    source_version: int | None = Field(None, sa_type=BigInteger)
    observed_seq: int | None = Field(None, sa_type=BigInteger)
    observed_at: datetime = Field(sa_type=UtcDateTime)
    version: int = Field(0, sa_type=BigInteger)
    received_at: datetime = Field(sa_type=UtcDateTime)
    client: str = Field(max_length=64)


class VerifikasiRow(_Verifikasi, table=True):
    """The current verification of one child in one period (the newest by ``(observed_at, version)``)."""

    __tablename__ = "verifikasi_pendidikan"
    __table_args__ = (UniqueConstraint("nik_anak", "periode"),
                      Index("ix_verifikasi_pendidikan_nik_anak", "nik_anak"))


class VerifikasiRiwayatRow(_Verifikasi, table=True):
    """Every distinct verification state accepted (APPLIED), never changed afterwards."""

    __tablename__ = "verifikasi_pendidikan_riwayat"
    __table_args__ = (Index("ix_verifikasi_pendidikan_riwayat_nik_anak_periode", "nik_anak", "periode"),)
