"""Small hand-made records for hub tests (NIKs built with the real rules, never real people)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from services.sync_hub.domain.students import StudentView
from shared.contracts.hub import SourceSystem
from shared.contracts.kemensos import (
    Anggota,
    HubunganKeluarga,
    Keluarga,
    KomponenPkh,
    NikLookupResult,
    Pkh,
    StatusPkh,
)
from shared.nik import Sex, encode

CHILD_DOB, MOTHER_DOB, FATHER_DOB = date(2014, 3, 9), date(1986, 7, 21), date(1983, 1, 2)
CHILD = encode("320101", Sex.L, CHILD_DOB, 1)
MOTHER = encode("320101", Sex.P, MOTHER_DOB, 2)
FATHER = encode("320101", Sex.L, FATHER_DOB, 3)
KK = "3201010101200001"
OTHER_KK = "3201010101200002"


def family(no_kk: str = KK, pkh: StatusPkh | None = StatusPkh.AKTIF, version: int = 7) -> Keluarga:
    return Keluarga(
        no_kk=no_kk, kode_wilayah="3201012001", desil=2, dtsen_triwulan="2026-Q3", no_kks="3201019999000001",
        version=version, updated_at=datetime(2026, 7, 1, tzinfo=UTC),
        pkh=Pkh(status=pkh, komponen=[KomponenPkh.SD], periode="2026 tahap III", tahun=2026, tahap=3) if pkh else None,
    )


def person(nik: str, nama: str, sex: str, born: date, ibu: str = "", rel=HubunganKeluarga.ANAK) -> Anggota:
    return Anggota(nik=nik, nama=nama, jenis_kelamin=sex, tempat_lahir="Bogor", tanggal_lahir=born,  # type: ignore[arg-type]
                   nama_ibu_kandung=ibu, hubungan_keluarga=rel)


def hit(p: Anggota, f: Keluarga) -> NikLookupResult:
    return NikLookupResult(nik=p.nik, found=True, person=p, family=f)


def student(**overrides: object) -> StudentView:
    base: dict[str, object] = dict(
        system=SourceSystem.DAPODIK, student_id="00000000-0000-4000-8000-000000000001",
        nama="Muhammad Rizki", jenis_kelamin="L", tanggal_lahir=CHILD_DOB, nik=CHILD, no_kk=KK,
        nama_ibu_kandung="Siti Aminah", nik_ibu=MOTHER, nama_ayah="Budi Santoso", nik_ayah=FATHER,
        nama_wali="", nik_wali=None, current={}, provenance={},
    )
    base.update(overrides)
    return StudentView(**base)  # type: ignore[arg-type]


CHILD_P = person(CHILD, "M. Rizky", "L", CHILD_DOB, "Hj. Siti Aminah")
MOTHER_P = person(MOTHER, "Siti Aminah", "P", MOTHER_DOB, "Fatimah", HubunganKeluarga.ISTRI)
FATHER_P = person(FATHER, "Budi Santoso", "L", FATHER_DOB, "Sri", HubunganKeluarga.KEPALA_KELUARGA)
