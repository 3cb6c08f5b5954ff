"""The siswa table: the record as EMIS holds it, plus the PKH fields the hub writes."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Index, String
from sqlmodel import Field

from services.emis_gateway.base import EmisTable, UTCDateTime

# Columns that come from the EMIS record (SiswaRecord); a change to any of them moves updated_at.
RECORD_COLUMNS = (
    "siswa_id", "nsm", "nisn", "nik", "nama", "jenis_kelamin", "tempat_lahir", "tanggal_lahir", "tingkat",
    "rombel", "status_aktif", "no_kk", "nama_ayah", "nik_ayah", "nama_ibu_kandung", "nik_ibu", "nama_wali",
    "nik_wali",
)


class SiswaRow(EmisTable, table=True):
    __tablename__ = "siswa"
    __table_args__ = (
        Index("ix_siswa_updated_at_id", "updated_at", "siswa_id"),
        Index("ix_siswa_nsm_updated_at_id", "nsm", "updated_at", "siswa_id"),
    )

    siswa_id: str = Field(sa_type=String(64), primary_key=True)
    nsm: str = Field(sa_type=String(12), foreign_key="madrasah.nsm", nullable=False)
    nisn: str | None = Field(default=None, sa_type=String(64))
    nik: str | None = Field(default=None, sa_type=String(64))
    nama: str = Field(sa_type=String(100))
    jenis_kelamin: str = Field(sa_type=String(1))
    tempat_lahir: str = Field(default="", sa_type=String(100))
    tanggal_lahir: date
    tingkat: int
    rombel: str = Field(default="", sa_type=String(40))
    status_aktif: bool = True
    no_kk: str | None = Field(default=None, sa_type=String(64))
    nama_ayah: str = Field(default="", sa_type=String(100))
    nik_ayah: str | None = Field(default=None, sa_type=String(64))
    nama_ibu_kandung: str = Field(default="", sa_type=String(100))
    nik_ibu: str | None = Field(default=None, sa_type=String(64))
    nama_wali: str = Field(default="", sa_type=String(100))
    nik_wali: str | None = Field(default=None, sa_type=String(64))

    # Written by the hub only (server data from Kemensos). Operator-entered ("manual") PKH data lives in
    # the manual_* columns, so that it never passes for server data nor overwrites it.
    status_pkh: str | None = Field(default=None, sa_type=String(32))
    keterangan_pkh: str | None = Field(default=None, sa_type=String(300))
    penerima_pkh: bool | None = None
    periode_pkh: str | None = Field(default=None, sa_type=String(40))
    no_kks: str | None = Field(default=None, sa_type=String(40))

    # Entered by an operator (PUT /api/v1/siswa/{id}/pkh-manual); never written by the hub.
    manual_penerima_pkh: bool | None = None
    manual_periode_pkh: str | None = Field(default=None, sa_type=String(40))
    manual_no_kks: str | None = Field(default=None, sa_type=String(40))
    manual_keterangan: str | None = Field(default=None, sa_type=String(300))
    manual_by: str | None = Field(default=None, sa_type=String(64))
    manual_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    # Set when the student left the madrasah (siswa_keluar.jsonl); status_aktif is then false.
    tanggal_keluar: date | None = None
    alasan_keluar: str | None = Field(default=None, sa_type=String(20))

    created_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    # Moves only when record data changes (load, import, operator edit), never on a hub write, so the
    # hub's change feed does not loop on its own writes.
    updated_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    # When the hub last applied something to this student.
    last_sync: datetime | None = Field(default=None, sa_type=UTCDateTime)
