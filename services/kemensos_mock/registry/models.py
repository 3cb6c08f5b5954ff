"""Tables of the registry: the change sequence, families (KK), their past KK numbers, members, PKH."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Column, ForeignKey, Index, String, UniqueConstraint
from sqlmodel import Field

from services.kemensos_mock.storage import VERSION, Table, UtcDateTime


class RegistrySequence(Table, table=True):
    """One row (id = 1): the registry-wide change sequence.

    Every insert or update of a family, a PKH membership or a KIP issuance takes the next value as its
    ``version``; ``observed_seq`` in answers is ``value``. ``last_at`` is the latest ``updated_at``
    handed out, so timestamps never go backwards even if the clock does.
    """

    __tablename__ = "registry_sequence"

    id: int = Field(primary_key=True)
    value: int = Field(0, ge=0, sa_type=VERSION)
    last_at: datetime | None = Field(None, sa_type=UtcDateTime)


class KeluargaRow(Table, table=True):
    """A DTSEN family (Kartu Keluarga). ``no_kk`` is the current KK number; older ones are in
    ``keluarga_kk_lama``."""

    __tablename__ = "keluarga"
    __table_args__ = (
        Index("ix_keluarga_updated_at_version", "updated_at", "version"),  # change feed order
    )

    id: int | None = Field(None, primary_key=True)
    no_kk: str = Field(max_length=16, unique=True, index=True)
    kode_wilayah: str = Field(max_length=10, index=True)
    alamat: str = Field("", max_length=200)
    desil: int | None = None
    dtsen_triwulan: str = Field(max_length=7, index=True)
    no_kks: str | None = Field(None, max_length=16)
    asal_no_kk: str | None = Field(None, max_length=16, index=True,
                                   description="KK number of the family this one split off from")
    version: int = Field(sa_type=VERSION)
    created_at: datetime = Field(sa_type=UtcDateTime)
    updated_at: datetime = Field(sa_type=UtcDateTime)


class KkLamaRow(Table, table=True):
    """A KK number a family held before (KK numbers change on moves, splits, a new head of family)."""

    __tablename__ = "keluarga_kk_lama"

    id: int | None = Field(None, primary_key=True)
    keluarga_id: int = Field(foreign_key="keluarga.id", ondelete="CASCADE", index=True)
    no_kk: str = Field(max_length=16, index=True)
    replaced_at: datetime = Field(sa_type=UtcDateTime)
    version: int = Field(description="Sequence of the change that replaced this number", sa_type=VERSION)
    alasan: str | None = Field(None, max_length=30, description="AlasanGantiKk; null when not recorded")


def _kk_reference() -> Column[str]:
    # Members and PKH rows refer to the family by its KK number; a KK change cascades to them.
    return Column(String(16), ForeignKey("keluarga.no_kk", onupdate="CASCADE", ondelete="CASCADE"),
                  nullable=False, index=True)


class AnggotaRow(Table, table=True):
    """A member of a family, identified by NIK."""

    __tablename__ = "anggota_keluarga"
    __table_args__ = (
        # identity search blocks on birth year + region prefix: equality, then a range, in one index
        Index("ix_anggota_keluarga_tahun_lahir_kode_wilayah", "tahun_lahir", "kode_wilayah"),
    )

    id: int | None = Field(None, primary_key=True)
    nik: str = Field(max_length=16, unique=True, index=True)
    no_kk: str = Field(sa_column=_kk_reference())
    nama: str = Field(max_length=100)
    jenis_kelamin: str = Field(max_length=1)
    tempat_lahir: str = Field("", max_length=100)
    tanggal_lahir: date
    nama_ibu_kandung: str = Field("", max_length=100)
    hubungan_keluarga: str = Field(max_length=20)
    # Search keys kept in step with the data: the year of ``tanggal_lahir`` and the family's kode_wilayah.
    tahun_lahir: int
    kode_wilayah: str = Field(max_length=10)


class PkhRow(Table, table=True):
    """A family's PKH membership (KPM) in one period (year + stage I-IV)."""

    __tablename__ = "pkh_keanggotaan"
    __table_args__ = (
        UniqueConstraint("no_kk", "tahun", "tahap"),
        Index("ix_pkh_keanggotaan_updated_at_version", "updated_at", "version"),  # change feed order
    )

    id: int | None = Field(None, primary_key=True)
    no_kk: str = Field(sa_column=_kk_reference())
    tahun: int
    tahap: int
    status: str = Field(max_length=12)
    komponen: list[str] = Field(default_factory=list, sa_type=JSON)
    penerima: list[dict[str, str | None]] = Field(default_factory=list, sa_type=JSON,
                                                 description="[{nik, komponen}], at most 4")
    version: int = Field(sa_type=VERSION)
    created_at: datetime = Field(sa_type=UtcDateTime)
    updated_at: datetime = Field(sa_type=UtcDateTime)


class KeluargaHapusRow(Table, table=True):
    """A family that left the registry (deleted by an admin or by a replacing load): the change feed's
    tombstone, so a replica drops it too. Kept; a family that comes back later is a new row."""

    __tablename__ = "keluarga_hapus"
    __table_args__ = (
        Index("ix_keluarga_hapus_updated_at_version", "updated_at", "version"),  # change feed order
    )

    id: int | None = Field(None, primary_key=True)
    no_kk: str = Field(max_length=16, index=True)
    version: int = Field(sa_type=VERSION)
    updated_at: datetime = Field(sa_type=UtcDateTime)


class BansosRow(Table, table=True):
    """A family's BPNT/Sembako or PBI-JK membership in one period (year + quarter). A change gives the family
    a new version too, so the change feed carries the family with its new programme statuses."""

    __tablename__ = "bansos_keanggotaan"
    __table_args__ = (UniqueConstraint("no_kk", "program", "tahun", "tahap"),)

    id: int | None = Field(None, primary_key=True)
    no_kk: str = Field(sa_column=_kk_reference())
    program: str = Field(max_length=10)
    tahun: int
    tahap: int
    status: str = Field(max_length=12)
    version: int = Field(sa_type=VERSION)
    created_at: datetime = Field(sa_type=UtcDateTime)
    updated_at: datetime = Field(sa_type=UtcDateTime)
