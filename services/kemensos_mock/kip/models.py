"""Tables of the KIP domain: one row per KIP card issued."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Index
from sqlmodel import Field

from services.kemensos_mock.storage import VERSION, Table, UtcDateTime


class KipRow(Table, table=True):
    """A KIP issuance. ``nik`` is as recorded on the issuance (often missing or wrong), never trusted. ``version``
    is the registry sequence number of its last write: unique, and growing in commit order (the listing's order)."""

    __tablename__ = "kip_penerbitan"
    __table_args__ = (Index("ix_kip_penerbitan_version", "version", unique=True),)

    id: int | None = Field(None, primary_key=True)
    no_kip: str = Field(max_length=6, unique=True, index=True)
    nama: str = Field(max_length=100)
    tanggal_lahir: date
    nama_ibu_kandung: str = Field("", max_length=100)
    kode_wilayah: str = Field(max_length=10, index=True)
    jenjang: str = Field(max_length=3, index=True)
    nik: str | None = Field(None, max_length=32)
    tahun: int
    version: int = Field(sa_type=VERSION)
    created_at: datetime = Field(sa_type=UtcDateTime)
    updated_at: datetime = Field(sa_type=UtcDateTime)
