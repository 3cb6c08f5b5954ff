"""The madrasah table."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlmodel import Field

from services.emis_gateway.base import EmisTable, UTCDateTime


class MadrasahRow(EmisTable, table=True):
    __tablename__ = "madrasah"
    __table_args__ = (Index("ix_madrasah_updated_at_nsm", "updated_at", "nsm"),)

    nsm: str = Field(sa_type=String(12), primary_key=True)
    npsn: str = Field(sa_type=String(8), index=True)
    nama: str = Field(sa_type=String(150))
    jenjang: str = Field(sa_type=String(3))
    status: str = Field(sa_type=String(10))
    kode_wilayah: str = Field(sa_type=String(10))
    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
