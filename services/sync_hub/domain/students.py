"""The hub's canonical view of a student, mapped from each gateway's wire model (pure functions)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from shared.contracts.common import FieldProvenance
from shared.contracts.dapodik import DAPODIK_HUB_FIELDS, JenisKeluar, PesertaDidik, StatusValidasi
from shared.contracts.emis import EMIS_HUB_FIELDS, Siswa
from shared.contracts.hub import SourceSystem

FieldValue = str | bool | int | None


@dataclass(frozen=True, slots=True)
class StudentView:
    system: SourceSystem
    student_id: str
    nama: str
    jenis_kelamin: str
    tanggal_lahir: date
    nik: str | None
    no_kk: str | None
    nama_ibu_kandung: str
    nik_ibu: str | None
    nama_ayah: str
    nik_ayah: str | None
    nama_wali: str
    nik_wali: str | None
    current: dict[str, FieldValue]  # hub-written fields as the gateway holds them now (incl. outcome)
    # the hub-written fields the gateway holds with the hub's provenance (what each one is, when read from the
    # gateway; None in the hub's copy, which keeps only which fields are attested)
    provenance: dict[str, FieldProvenance | None]
    # the student's NISN as the gateway holds it (not a matching key: kept so an operator can find the student)
    nisn: str | None = None


def _common(s: Siswa | PesertaDidik) -> dict[str, object]:
    return {
        "nama": s.nama, "jenis_kelamin": s.jenis_kelamin.value, "tanggal_lahir": s.tanggal_lahir,
        "nisn": s.nisn, "nik": s.nik, "no_kk": s.no_kk, "nama_ibu_kandung": s.nama_ibu_kandung, "nik_ibu": s.nik_ibu,
        "nama_ayah": s.nama_ayah, "nik_ayah": s.nik_ayah, "nama_wali": s.nama_wali, "nik_wali": s.nik_wali,
        "provenance": {p.field: p for p in s.provenance},
    }


# Where each gateway keeps the outcome and its detail.
OUTCOME_FIELDS: dict[SourceSystem, tuple[str, str]] = {
    SourceSystem.EMIS: ("status_pkh", "keterangan_pkh"),
    SourceSystem.DAPODIK: ("status_padan", "keterangan_padan"),
}


def from_siswa(s: Siswa) -> StudentView:
    current: dict[str, FieldValue] = {f: getattr(s.pkh, f) for f in EMIS_HUB_FIELDS}
    current["status_pkh"] = s.pkh.status_pkh.value if s.pkh.status_pkh else None
    current["keterangan_pkh"] = s.pkh.keterangan_pkh
    return StudentView(system=SourceSystem.EMIS, student_id=s.siswa_id, current=current, **_common(s))  # type: ignore[arg-type]


def from_peserta_didik(p: PesertaDidik) -> StudentView:
    current: dict[str, FieldValue] = {f: getattr(p, f) for f in DAPODIK_HUB_FIELDS}
    current["status_padan"] = p.status_padan.value if p.status_padan else None
    current["keterangan_padan"] = p.keterangan_padan
    return StudentView(system=SourceSystem.DAPODIK, student_id=p.peserta_didik_id, current=current,
                       **_common(p))  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Month:
    """A month of attendance as the gateway records it (``shared.kehadiran``)."""

    tahun: int
    bulan: int
    hari_efektif: int
    alpa: int
    izin: int
    sakit: int


@dataclass(frozen=True, slots=True)
class Enrolment:
    """What an education verification says of a record: the school's NPSN, whether the record is active,
    when and why the student left, the record's version at the gateway and its monthly attendance."""

    npsn: str | None = None
    aktif: bool = True
    keluar_on: date | None = None
    keluar_reason: str | None = None  # EMIS alasan_keluar, or the name of Dapodik's jenis_keluar
    source_version: int = 0
    months: tuple[Month, ...] = ()
    # Dapodik holds the record back (an INVALID validation finding, status_validasi 2): the school has to fix it
    # (read by the families-at-risk report, ``risk``)
    held_back: bool = False


def version_of(changed_at: datetime) -> int:
    """A gateway record's version as a verification's provenance names it: its last change, in microseconds
    since 1970 (both gateways move a record's timestamp with every change the hub reads)."""
    at = changed_at if changed_at.tzinfo else changed_at.replace(tzinfo=UTC)
    return int(at.timestamp() * 1_000_000)


def enrolment_of(record: Siswa | PesertaDidik, npsn: str | None) -> Enrolment:
    """What an education verification reads from a gateway record (``npsn``: its school's, from the school
    directory)."""
    if isinstance(record, Siswa):
        months = tuple(Month(k.tahun, k.bulan, k.hari_efektif, k.alpa, k.izin, k.sakit) for k in record.kehadiran)
        return Enrolment(npsn=npsn, aktif=record.status_aktif, keluar_on=record.tanggal_keluar,
                         keluar_reason=record.alasan_keluar.value if record.alasan_keluar else None,
                         source_version=version_of(record.updated_at), months=months)
    months = tuple(Month(k.tahun, k.bulan, k.jml_hari_efektif, k.jml_tanpa_keterangan, k.jml_izin, k.jml_sakit)
                   for k in record.kehadiran_pd)
    keluar = JenisKeluar(record.jenis_keluar_id).name if record.jenis_keluar_id is not None else None
    return Enrolment(npsn=npsn, aktif=record.jenis_keluar_id is None, keluar_on=record.tanggal_keluar,
                     keluar_reason=keluar, source_version=version_of(record.last_update), months=months,
                     held_back=record.status_validasi == StatusValidasi.INVALID)
