"""The ``kesejahteraan_pd`` table (Dapodik's name and columns, DOMAIN.md §2.3)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field

from services.dapodik_gateway.db import DapodikTable, UTCDateTime


class KesejahteraanPdRow(DapodikTable, table=True):
    __tablename__ = "kesejahteraan_pd"
    __table_args__ = (sa.UniqueConstraint("peserta_didik_id", "jenis_kesejahteraan_id",
                                          name="uq_kesejahteraan_pd_pd_jenis"),)

    id_sejahtera_pd: str = Field(primary_key=True, max_length=36, description="uuid5 of (student, programme)")
    peserta_didik_id: str = Field(foreign_key="peserta_didik.peserta_didik_id", max_length=36)
    jenis_kesejahteraan_id: int = Field(sa_type=sa.SmallInteger, description="11 PIP, 12 PKH, 13 KPS, 14 KKS, 15 KIS")
    nomor: str | None = Field(default=None, max_length=40)
    nm_di_kartu: str | None = Field(default=None, max_length=100)
    dari_tahun: int = Field(sa_type=sa.SmallInteger)
    sampai_tahun: int | None = Field(default=None, sa_type=sa.SmallInteger)
    asal_data: str = Field(max_length=64)
    create_date: datetime = Field(sa_type=UTCDateTime)
    last_update: datetime = Field(sa_type=UTCDateTime)
