"""Dapodik (Kemendikdasmen) gateway, with Dapodik's own field names (DOMAIN.md §2.3)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import ConfigDict, Field

from shared.contracts.common import FieldProvenance, JenisKelamin, Outcome, RawId, Strict
from shared.contracts.emis import StatusLembaga


class BentukPendidikan(StrEnum):
    SD = "SD"
    SMP = "SMP"
    SMA = "SMA"
    SMK = "SMK"


class SekolahRecord(Strict):
    """sekolah.jsonl"""

    sekolah_id: str = Field(..., pattern=r"^[0-9a-f-]{36}$", description="UUID")
    npsn: str = Field(..., pattern=r"^\d{8}$")
    nama: str = Field(..., min_length=1, max_length=150)
    bentuk_pendidikan: BentukPendidikan
    status_sekolah: StatusLembaga
    kode_wilayah: str = Field(..., pattern=r"^\d{10}$", description="Kemendagri desa code")


class PesertaDidikRecord(Strict):
    """peserta_didik.jsonl: the full peserta_didik row (not the Web Service subset)."""

    peserta_didik_id: str = Field(..., pattern=r"^[0-9a-f-]{36}$", description="UUID")
    sekolah_id: str = Field(..., pattern=r"^[0-9a-f-]{36}$")
    nipd: str = Field("", max_length=30)
    nisn: RawId = None
    nik: RawId = None
    no_kk: RawId = None
    nama: str = Field(..., min_length=1, max_length=100)
    jenis_kelamin: JenisKelamin
    tempat_lahir: str = Field("", max_length=100)
    tanggal_lahir: date
    tingkat_pendidikan_id: int = Field(..., ge=1, le=13)
    nama_ayah: str = Field("", max_length=100)
    nik_ayah: RawId = None
    nama_ibu_kandung: str = Field(..., max_length=100)
    nik_ibu: RawId = None
    nama_wali: str = Field("", max_length=100)
    nik_wali: RawId = None
    penerima_kps: bool = False
    no_kps: str | None = Field(None, max_length=40)
    penerima_kip: bool = False
    no_kip: str | None = Field(None, max_length=10)
    nm_kip: str | None = Field(None, max_length=100)
    layak_pip: bool = False
    no_kks: str | None = Field(None, max_length=40)


# Fields the hub may write on a peserta_didik (HubResultItem.values keys) besides the outcome.
DAPODIK_HUB_FIELDS = ("penerima_kps", "no_kps", "penerima_kip", "no_kip", "nm_kip")


class PesertaDidik(PesertaDidikRecord):
    # A read model: a newer server may add fields, so clients ignore what they do not know.
    model_config = ConfigDict(extra="ignore")

    status_padan: Outcome | None = Field(None, description="Hub outcome for this student's family link")
    keterangan_padan: str | None = None
    last_update: datetime
    last_sync: datetime | None = None
    provenance: list[FieldProvenance] = Field(default_factory=list, description="Latest per hub-written field")


class Sekolah(SekolahRecord):
    # A read model: a newer server may add fields, so clients ignore what they do not know.
    model_config = ConfigDict(extra="ignore")

    jumlah_peserta_didik: int = 0
    last_sync: datetime | None = None
