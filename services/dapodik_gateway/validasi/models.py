"""The ``vld_peserta_didik`` table: one row per validation finding (Dapodik's own table name and columns)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field

from services.dapodik_gateway.db import DapodikTable, UTCDateTime


class VldPesertaDidikRow(DapodikTable, table=True):
    __tablename__ = "vld_peserta_didik"
    __table_args__ = (sa.Index("ix_vld_peserta_didik_pd", "peserta_didik_id", "logid"),)

    logid: int | None = Field(default=None, primary_key=True)
    peserta_didik_id: str = Field(foreign_key="peserta_didik.peserta_didik_id", max_length=36)
    idtype: int = Field(description="Rule number (ref.errortype)")
    kode: str = Field(max_length=40, description="Rule code")
    status_validasi: int = Field(sa_type=sa.SmallInteger, description="1 warning, 2 invalid")
    field_error: str = Field(max_length=40)
    error_message: str = Field(max_length=300)
    create_date: datetime = Field(sa_type=UTCDateTime)
