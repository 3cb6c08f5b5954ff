"""The ``kehadiran_pd`` table: a student's attendance per month (PKH's education commitment, AUDIT §5.1)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field

from services.dapodik_gateway.db import DapodikTable, UTCDateTime


class KehadiranPdRow(DapodikTable, table=True):
    __tablename__ = "kehadiran_pd"

    peserta_didik_id: str = Field(foreign_key="peserta_didik.peserta_didik_id", primary_key=True, max_length=36)
    tahun: int = Field(sa_type=sa.SmallInteger, primary_key=True)
    bulan: int = Field(sa_type=sa.SmallInteger, primary_key=True)
    jml_hari_efektif: int = Field(sa_type=sa.SmallInteger)
    jml_sakit: int = Field(sa_type=sa.SmallInteger)
    jml_izin: int = Field(sa_type=sa.SmallInteger)
    jml_tanpa_keterangan: int = Field(sa_type=sa.SmallInteger)
    last_update: datetime = Field(sa_type=UTCDateTime)
