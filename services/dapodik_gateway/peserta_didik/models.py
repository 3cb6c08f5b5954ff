"""The ``peserta_didik`` table: the full record (DOMAIN.md §2.3 subset), hub values, sync metadata."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field

from services.dapodik_gateway.db import DapodikTable, UTCDateTime


class PesertaDidikRow(DapodikTable, table=True):
    __tablename__ = "peserta_didik"
    __table_args__ = (
        sa.Index("ix_peserta_didik_last_update_id", "last_update", "peserta_didik_id"),
        sa.Index("ix_peserta_didik_sekolah_last_update_id", "sekolah_id", "last_update", "peserta_didik_id"),
        sa.Index("ix_peserta_didik_change_seq_id", "change_seq", "peserta_didik_id"),
        sa.Index("ix_peserta_didik_sekolah_change_seq_id", "sekolah_id", "change_seq", "peserta_didik_id"),
    )

    peserta_didik_id: str = Field(primary_key=True, max_length=36)
    sekolah_id: str = Field(foreign_key="sekolah.sekolah_id", max_length=36)
    nipd: str = Field(default="", max_length=30)
    nisn: str | None = Field(default=None, max_length=64)
    nik: str | None = Field(default=None, max_length=64)
    no_kk: str | None = Field(default=None, max_length=64)
    nama: str = Field(max_length=100)
    jenis_kelamin: str = Field(max_length=1)
    tempat_lahir: str = Field(default="", max_length=100)
    tanggal_lahir: date
    tingkat_pendidikan_id: int
    nama_ayah: str = Field(default="", max_length=100)
    nik_ayah: str | None = Field(default=None, max_length=64)
    nama_ibu_kandung: str = Field(max_length=100)
    nik_ibu: str | None = Field(default=None, max_length=64)
    nama_wali: str = Field(default="", max_length=100)
    nik_wali: str | None = Field(default=None, max_length=64)
    # KPS/PKH and KIP: part of the record, and writable by the hub (DAPODIK_HUB_FIELDS).
    penerima_kps: bool = Field(default=False)
    no_kps: str | None = Field(default=None, max_length=40)
    penerima_kip: bool = Field(default=False)
    no_kip: str | None = Field(default=None, max_length=10)
    nm_kip: str | None = Field(default=None, max_length=100)
    layak_pip: bool = Field(default=False)
    no_kks: str | None = Field(default=None, max_length=40)
    # The hub's outcome for the family link ("padan" = matched) and its detail.
    status_padan: str | None = Field(default=None, max_length=32)
    keterangan_padan: str | None = Field(default=None, max_length=300)
    # The worst validation finding (vld_peserta_didik): 0 none, 1 warning, 2 invalid (held back from the
    # hub's feed); null until validated (rows loaded before validation existed are validated at startup).
    status_validasi: int | None = Field(default=None, sa_type=sa.SmallInteger)
    # Dapodik's row metadata. last_update changes only when the record itself changes (load, import,
    # operator edit), never when the hub writes a result, so the hub's change feed does not loop.
    create_date: datetime = Field(sa_type=UTCDateTime)
    last_update: datetime = Field(sa_type=UTCDateTime)
    last_sync: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The change counter's value when the record last changed (load, import, operator edit, KIP SK): the
    # hub's feed is ordered by (change_seq, id), which is commit order, unlike a timestamp.
    change_seq: int = Field(default=0, sa_type=sa.BigInteger)
    soft_delete: bool = Field(default=False)
    # Set when the student left the school (registrasi_keluar.jsonl; Dapodik's registrasi_peserta_didik). The
    # record stays active and in the hub's feed (not a soft delete): the hub reports it as no longer enrolled.
    jenis_keluar_id: int | None = Field(default=None, sa_type=sa.SmallInteger)
    tanggal_keluar: date | None = Field(default=None)
