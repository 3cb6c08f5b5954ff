"""The hub's minimised copy of the students it has read from each gateway, and where it is in each feed.

Only what matching, review and diffing need: the identity fields of the student and its parents, the school
(for the region), and the hub-written values the gateway holds (with the fields the hub has attested); and the
student's NISN, which matching does not use but an operator needs to find a student on the console (schools and
the registry name students by NISN; the gateways' ids are theirs alone). No address, no class.
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field

from services.sync_hub.db import HubTable


class StudentMirrorRow(HubTable, table=True):
    __tablename__ = "student_mirror"
    __table_args__ = (sa.Index("ix_student_mirror_region", "system", "region"),
                      sa.Index("ix_student_mirror_nik", "nik"), sa.Index("ix_student_mirror_nik_ibu", "nik_ibu"),
                      sa.Index("ix_student_mirror_nik_ayah", "nik_ayah"),
                      sa.Index("ix_student_mirror_nik_wali", "nik_wali"), sa.Index("ix_student_mirror_no_kk", "no_kk"),
                      sa.Index("ix_student_mirror_nisn", "nisn"), sa.Index("ix_student_mirror_read_at", "read_at"))

    system: str = Field(primary_key=True, max_length=16)
    student_id: str = Field(primary_key=True, max_length=64)
    school: str = Field(max_length=64)  # NSM / NSPP (EMIS) or sekolah_id (Dapodik)
    # the school's kode_wilayah (the student's work unit) and Dapodik bentuk_pendidikan (a KIP card's jenjang)
    region: str = Field(default="", max_length=10, sa_column_kwargs={"server_default": ""})
    bentuk: str | None = Field(default=None, max_length=16)
    # what an education verification says of the record (``verification``): the school's NPSN, whether the
    # record is active, when and why the student left, and the record's version at the gateway (its last
    # change, in microseconds since 1970: what a verification's provenance names)
    npsn: str | None = Field(default=None, max_length=8)
    aktif: bool = Field(default=True, sa_column_kwargs={"server_default": sa.true()})
    keluar_on: date | None = None
    keluar_reason: str | None = Field(default=None, max_length=32)
    source_version: int = Field(default=0, sa_column=sa.Column(sa.BigInteger, nullable=False, server_default="0"))
    # Dapodik holds the record back (status_validasi 2, an INVALID finding): the families-at-risk report names
    # the school that has to fix it
    held_back: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    read_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True)))
    nama: str = Field(max_length=100)
    jenis_kelamin: str = Field(max_length=1)
    tanggal_lahir: date
    # as the gateway holds it (a raw value: missing or malformed in some records), searched by equality
    nisn: str | None = Field(default=None, max_length=64)
    nik: str | None = Field(default=None, max_length=64)
    no_kk: str | None = Field(default=None, max_length=64)
    nama_ibu_kandung: str = Field(default="", max_length=100)
    nik_ibu: str | None = Field(default=None, max_length=64)
    nama_ayah: str = Field(default="", max_length=100)
    nik_ayah: str | None = Field(default=None, max_length=64)
    nama_wali: str = Field(default="", max_length=100)
    nik_wali: str | None = Field(default=None, max_length=64)
    # hub-written fields (and the outcome) as the gateway holds them, and those the hub has attested
    current_json: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    attested_json: str = Field(sa_column=sa.Column(sa.Text, nullable=False))


class SchoolCopyRow(HubTable, table=True):
    """Each gateway's schools as its list last said: what a student's region, bentuk_pendidikan and NPSN are taken
    from (its school's). A plan that needs the list (a full run, a student new to the copy or moved school) reads it
    into this table a page at a time and then looks up each feed page's schools here, so no process holds the
    country's ~530,000 schools."""

    __tablename__ = "school_copy"

    system: str = Field(primary_key=True, max_length=16)
    school: str = Field(primary_key=True, max_length=64)  # NSM / NSPP (EMIS) or sekolah_id (Dapodik)
    kode_wilayah: str = Field(max_length=10)
    bentuk: str | None = Field(default=None, max_length=16)
    npsn: str | None = Field(default=None, max_length=8)
    read_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))


class FeedStateRow(HubTable, table=True):
    """Per source system: the feed position to resume from, kept only once a run's work is done."""

    __tablename__ = "feed_state"

    system: str = Field(primary_key=True, max_length=16)
    cursor: str | None = Field(default=None, max_length=600)
    # moves with every commit of this system's mirror: a process's in-memory copy is current while equal
    generation: int = Field(default=0, sa_column=sa.Column(sa.BigInteger, nullable=False, server_default="0"))
    updated_at: datetime | None = Field(default=None, sa_column=sa.Column(sa.DateTime(timezone=True)))


class MirrorRefetchRow(HubTable, table=True):
    """A student whose copy may be behind the gateway without a feed change (an on-demand check wrote it, a
    result came back STALE or NOT_FOUND): the next run reads it directly."""

    __tablename__ = "mirror_refetch"

    system: str = Field(primary_key=True, max_length=16)
    student_id: str = Field(primary_key=True, max_length=64)
    requested_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))


class MirrorKehadiranRow(HubTable, table=True):
    """A student's attendance in one month, as the gateway records it (what an education verification reports
    against PKH's 85 % rule). Replaced with the student's row whenever the student is stored again."""

    __tablename__ = "mirror_kehadiran"

    system: str = Field(primary_key=True, max_length=16)
    student_id: str = Field(primary_key=True, max_length=64)
    tahun: int = Field(primary_key=True)
    bulan: int = Field(primary_key=True)
    hari_efektif: int
    alpa: int
    izin: int
    sakit: int
