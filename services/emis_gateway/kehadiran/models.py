"""The kehadiran_siswa table: a student's attendance per month (PKH's education commitment)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import SmallInteger, String
from sqlmodel import Field

from services.emis_gateway.base import EmisTable, UTCDateTime


class KehadiranSiswaRow(EmisTable, table=True):
    __tablename__ = "kehadiran_siswa"

    siswa_id: str = Field(sa_type=String(64), foreign_key="siswa.siswa_id", primary_key=True)
    tahun: int = Field(sa_type=SmallInteger, primary_key=True)
    bulan: int = Field(sa_type=SmallInteger, primary_key=True)
    hari_efektif: int = Field(sa_type=SmallInteger)
    sakit: int = Field(sa_type=SmallInteger)
    izin: int = Field(sa_type=SmallInteger)
    alpa: int = Field(sa_type=SmallInteger)
    updated_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
