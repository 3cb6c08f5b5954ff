"""EMIS 4.0 (Kemenag) gateway: madrasah, students (siswa) with parents, and their PKH data."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.common import FieldProvenance, JenisKelamin, Outcome, RawId, Strict


class JenjangMadrasah(StrEnum):
    RA = "RA"  # NSM type 101
    MI = "MI"  # 111
    MTS = "MTs"  # 121
    MA = "MA"  # 131


class StatusLembaga(StrEnum):
    NEGERI = "NEGERI"
    SWASTA = "SWASTA"


class MadrasahRecord(Strict):
    """madrasah.jsonl"""

    nsm: str = Field(..., pattern=r"^\d{12}$", description="Nomor Statistik Madrasah: JJJ S PP KK NNNN")
    npsn: str = Field(..., pattern=r"^\d{8}$")
    nama: str = Field(..., min_length=1, max_length=150)
    jenjang: JenjangMadrasah
    status: StatusLembaga
    kode_wilayah: str = Field(..., pattern=r"^\d{10}$")


class SiswaRecord(Strict):
    """siswa.jsonl: a student with parents as EMIS holds them (identifiers may be missing or wrong)."""

    siswa_id: str = Field(..., min_length=1, max_length=64)
    nsm: str = Field(..., pattern=r"^\d{12}$")
    nisn: RawId = None
    nik: RawId = None
    nama: str = Field(..., min_length=1, max_length=100)
    jenis_kelamin: JenisKelamin
    tempat_lahir: str = Field("", max_length=100)
    tanggal_lahir: date
    tingkat: int = Field(..., ge=0, le=12, description="Class level (0 = RA)")
    rombel: str = Field("", max_length=40)
    status_aktif: bool = True
    no_kk: RawId = None
    nama_ayah: str = Field("", max_length=100)
    nik_ayah: RawId = None
    nama_ibu_kandung: str = Field("", max_length=100)
    nik_ibu: RawId = None
    nama_wali: str = Field("", max_length=100)
    nik_wali: RawId = None


# Fields the hub may write on a siswa (HubResultItem.values keys) besides the outcome.
EMIS_HUB_FIELDS = ("penerima_pkh", "periode_pkh", "no_kks")


class PkhData(BaseModel):
    """The PKH panel of a student (tab "Data Orang Tua"): the server value and why."""

    status_pkh: Outcome | None = Field(None, description="Outcome code; null until first synced")
    keterangan_pkh: str | None = None
    penerima_pkh: bool | None = None
    periode_pkh: str | None = None
    no_kks: str | None = None
    sumber: str | None = Field(None, examples=["SERVER_KEMENSOS"])
    tanggal_sinkron: datetime | None = None


class Siswa(SiswaRecord):
    # A read model: a newer server may add fields, so clients ignore what they do not know.
    model_config = ConfigDict(extra="ignore")

    updated_at: datetime
    pkh: PkhData
    provenance: list[FieldProvenance] = Field(default_factory=list, description="Latest per hub-written field")


class Madrasah(MadrasahRecord):
    # A read model: a newer server may add fields, so clients ignore what they do not know.
    model_config = ConfigDict(extra="ignore")

    jumlah_siswa: int = 0
    last_sync: datetime | None = None
