"""The ``sekolah`` table: the school row with Dapodik's sync metadata."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field

from services.dapodik_gateway.db import DapodikTable, UTCDateTime


class SekolahRow(DapodikTable, table=True):
    __tablename__ = "sekolah"
    __table_args__ = (sa.Index("ix_sekolah_last_update_id", "last_update", "sekolah_id"),)

    sekolah_id: str = Field(primary_key=True, max_length=36)
    npsn: str = Field(max_length=8, unique=True)
    nama: str = Field(max_length=150)
    bentuk_pendidikan: str = Field(max_length=8)
    status_sekolah: str = Field(max_length=16)
    kode_wilayah: str = Field(max_length=10)
    # Dapodik's row metadata: created, last changed (the paging key), soft-deleted.
    create_date: datetime = Field(sa_type=UTCDateTime)
    last_update: datetime = Field(sa_type=UTCDateTime)
    soft_delete: bool = Field(default=False)
