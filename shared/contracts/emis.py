"""EMIS 4.0 (Kemenag) gateway: madrasah, students (siswa) with parents, and their PKH data."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.common import FieldProvenance, JenisKelamin, MatchKey, Outcome, RawId, Strict


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


class AlasanKeluarSiswa(StrEnum):
    """Why a siswa left the madrasah (EMIS mutasi keluar)."""

    PUTUS_SEKOLAH = "PUTUS_SEKOLAH"  # dropped out
    PINDAH = "PINDAH"  # moved to another institution
    LULUS = "LULUS"  # graduated


class KehadiranSiswaRecord(Strict):
    """kehadiran_siswa.jsonl and the attendance import: one student's attendance in one month, as the
    madrasah records it for PKH's education commitment (``shared.kehadiran``)."""

    siswa_id: str = Field(..., min_length=1, max_length=64)
    tahun: int = Field(..., ge=2000, le=2100, description="Calendar year of the month")
    bulan: int = Field(..., ge=1, le=12, description="Month 1-12")
    hari_efektif: int = Field(..., ge=1, le=31, description="Effective school days of the month at the madrasah")
    sakit: int = Field(..., ge=0, le=31, description="Days absent, sick")
    izin: int = Field(..., ge=0, le=31, description="Days absent, excused")
    alpa: int = Field(..., ge=0, le=31, description="Days absent without notice")


class SiswaKeluarRecord(Strict):
    """siswa_keluar.jsonl: a siswa who left the madrasah (the record stays, ``status_aktif`` false)."""

    siswa_id: str = Field(..., min_length=1, max_length=64)
    tanggal_keluar: date = Field(..., description="Last day at the madrasah")
    alasan_keluar: AlasanKeluarSiswa


class KehadiranSiswa(KehadiranSiswaRecord):
    """A month of a student's attendance with what PKH reads from it."""

    model_config = ConfigDict(extra="ignore")

    jumlah_tidak_hadir: int = Field(..., description="sakit + izin + alpa (the VERKOM `Jml`)")
    persentase_kehadiran: float = Field(..., description="Days present over hari_efektif, percent, one decimal")
    memenuhi_syarat_pkh: bool = Field(..., description="Present on at least 85% of the effective days")


class PesantrenRecord(Strict):
    """pesantren.jsonl: a pondok pesantren (EMIS PD-Pontren), numbered by its NSPP."""

    nspp: str = Field(..., pattern=r"^\d{12}$", description="Nomor Statistik Pondok Pesantren")
    npsn: str | None = Field(None, pattern=r"^\d{8}$")
    nama: str = Field(..., min_length=1, max_length=150)
    status: StatusLembaga = StatusLembaga.SWASTA
    kode_wilayah: str = Field(..., pattern=r"^\d{10}$")


class SantriRecord(SiswaRecord):
    """santri.jsonl: a santri of a pesantren, as a siswa whose institution is an NSPP (``nsm`` left out)."""

    nsm: None = Field(None, description="Leave out: a santri belongs to an NSPP")  # type: ignore[assignment]
    nspp: str = Field(..., pattern=r"^\d{12}$")


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


class PkhManualInput(Strict):
    """PKH data an operator enters by hand (from a KKS card, a letter...). Kept apart from the server data:
    it never overwrites it and never decides the status."""

    penerima_pkh: bool | None = None
    periode_pkh: str | None = Field(None, max_length=40)
    no_kks: str | None = Field(None, min_length=1, max_length=40, pattern=r"^[0-9A-Za-z./ -]+$")
    keterangan: str | None = Field(None, max_length=300)


class PkhManual(BaseModel):
    """The operator's manual PKH data of a student, with who entered it and when."""

    model_config = ConfigDict(extra="ignore")

    penerima_pkh: bool | None = None
    periode_pkh: str | None = None
    no_kks: str | None = None
    keterangan: str | None = None
    diisi_oleh: str = Field(..., description="The credential that entered it")
    diisi_pada: datetime


class Siswa(SiswaRecord):
    # A read model: a newer server may add fields, so clients ignore what they do not know.
    model_config = ConfigDict(extra="ignore")

    updated_at: datetime
    pkh: PkhData = Field(..., description="Server data (Kemensos, written by the hub): decides the status")
    pkh_manual: PkhManual | None = Field(None, description="Operator input, shown apart; never decides")
    pkh_manual_berbeda: bool = Field(False, description="The manual penerima_pkh contradicts the server's")
    nspp: str | None = Field(None, description="Set for a santri: the pesantren's NSPP (then nsm repeats it)")
    provenance: list[FieldProvenance] = Field(default_factory=list, description="Latest per hub-written field")
    tanggal_keluar: date | None = Field(None, description="Set when the siswa left the madrasah")
    alasan_keluar: AlasanKeluarSiswa | None = Field(None, description="Why the siswa left")
    kehadiran: list[KehadiranSiswa] = Field(
        default_factory=list, description="Monthly attendance, oldest month first; a change to it moves the "
        "student in the hub's feed")


# The hub's change feed of students (``GET /api/v1/hub/siswa``): every student in the order it last changed
# (load, import; hub writes and manual PKH input are not changes), paged with ``cursor`` (= ``next_cursor``);
# every page carries ``resume_cursor``, the position after its last record: keep the last one and pass it as
# ``since`` next run to read only what changed since. Positions are (updated_at, siswa_id), opaque; ties on
# updated_at (one load gives all its students one timestamp) are broken by the id. A resume position never
# passes a write transaction still in flight (PostgreSQL), so a late commit is read on the next run.
HUB_SISWA_FEED_PATH = "/api/v1/hub/siswa"


class SiswaFeed(BaseModel):
    """A page of the hub's change feed of students."""

    model_config = ConfigDict(extra="ignore")

    items: list[Siswa]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page; null after the last")
    resume_cursor: str = Field(..., description="The position after this page's last record (or the position "
                               "asked for, when the page is empty): pass as `since` to read what changed since")


class SinkronRingkasan(BaseModel):
    """What one sync run (or on-demand check) of the hub did to the students of one madrasah."""

    model_config = ConfigDict(extra="ignore")

    sync_run_id: str
    mulai: datetime = Field(..., description="First result batch of the run for this madrasah")
    selesai: datetime = Field(..., description="Last result batch of the run for this madrasah")
    siswa: int = Field(..., description="Result items for its students")
    diubah: int = Field(..., description="Students with at least one value changed (APPLIED)")
    tetap: int = Field(..., description="Students whose values were already held (UNCHANGED)")
    usang: int = Field(0, description="Results older than what the record holds (STALE)")
    ditolak: int = Field(0, description="Results refused (REJECTED)")
    nilai_diubah: int = Field(..., description="Values changed")
    per_field: dict[str, int] = Field(default_factory=dict, description="Values changed per field")


class Madrasah(MadrasahRecord):
    # A read model: a newer server may add fields, so clients ignore what they do not know.
    model_config = ConfigDict(extra="ignore")

    jumlah_siswa: int = 0
    last_sync: datetime | None = Field(None, description="When the hub last synced its students")
    sinkron_terakhir: SinkronRingkasan | None = Field(None, description="What the last sync changed")


class Pesantren(PesantrenRecord):
    # A read model: a newer server may add fields, so clients ignore what they do not know.
    model_config = ConfigDict(extra="ignore")

    jumlah_santri: int = 0
    last_sync: datetime | None = Field(None, description="When the hub last synced its santri")
    sinkron_terakhir: SinkronRingkasan | None = Field(None, description="What the last sync changed")


class MadrasahSinkron(BaseModel):
    """The sync screen of a madrasah: when it last synced, what that sync changed, the runs before."""

    nsm: str
    last_sync: datetime | None = None
    terakhir: SinkronRingkasan | None = None
    riwayat: list[SinkronRingkasan] = Field(default_factory=list, description="Recent runs, newest first")


class Perubahan(BaseModel):
    """One value a sync changed: the student, the field, the value before and after."""

    siswa_id: str
    nama: str
    field: str
    nilai_lama: str | bool | int | None
    nilai_baru: str | bool | int | None
    waktu: datetime


class PkhRequestScope(StrEnum):
    SISWA = "siswa"  # one student ("Request Data PKH" on the student's page)
    MADRASAH = "madrasah"  # every active student of one madrasah


class PkhRequestStatus(StrEnum):
    PENDING = "PENDING"  # queued or in progress; the registry may be unreachable (retried with backoff)
    DONE = "DONE"  # every student answered
    FAILED = "FAILED"  # finished, but some students could not be asked (see each answer's keterangan)


class PkhAnswerState(StrEnum):
    PENDING = "PENDING"
    DONE = "DONE"
    FAILED = "FAILED"


class PkhAnswer(BaseModel):
    """One student's answer to a PKH request: why (``status_pkh``) and the PKH data now stored."""

    model_config = ConfigDict(extra="ignore")

    siswa_id: str
    state: PkhAnswerState
    status_pkh: Outcome | None = Field(None, description="The reason: an outcome code, PENDING while the "
                                       "registry has not answered; null only when the request FAILED")
    keterangan_pkh: str | None = Field(None, description="Detail of the reason (the NIK rule broken, ...)")
    matched_by: MatchKey | None = None
    sync_run_id: str | None = Field(None, description="The hub's run that answered (and wrote the value)")
    dijawab_pada: datetime | None = Field(None, description="When the hub answered")
    pkh: PkhData | None = Field(None, description="The student's PKH data as stored now; "
                                "pkh.tanggal_sinkron is the sync date of the value")


class PkhRequest(BaseModel):
    """A request for PKH data (one student or a whole madrasah) and its progress."""

    model_config = ConfigDict(extra="ignore")

    id: str
    scope: PkhRequestScope
    nsm: str | None = None
    siswa_id: str | None = None
    status: PkhRequestStatus
    requested_by: str
    total: int = Field(..., description="Students in the request")
    done: int = Field(..., description="Students answered")
    failed: int = 0
    pending: int = Field(..., description="Students still waiting for the registry")
    outcomes: dict[str, int] = Field(default_factory=dict, description="Answered students per outcome code")
    attempts: int = Field(0, description="Calls to the hub that could not reach the registry")
    next_attempt_at: datetime | None = Field(None, description="When a PENDING request is tried again")
    last_error: str | None = None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None
    results: list[PkhAnswer] = Field(default_factory=list, description="A one-student request's answer; "
                                     "for a madrasah see /api/v1/pkh-requests/{id}/results")


class DasarGanda(StrEnum):
    NIK = "NIK"  # the same valid NIK
    IDENTITAS = "IDENTITAS"  # no NIK to tell them apart: same name, birth date and mother's name (normalised)


class DataGandaSiswa(BaseModel):
    """One record of a duplicate: enough to find it, the NIK masked (the records belong to other madrasah)."""

    model_config = ConfigDict(extra="ignore")

    siswa_id: str
    nsm: str
    nama_madrasah: str | None = None
    nisn: str | None = None
    nik: str | None = Field(None, description="Masked: 320101******0001")
    nama: str
    tanggal_lahir: date
    nama_ibu_kandung: str
    tingkat: int
    rombel: str


class DataGanda(BaseModel):
    """"Data ganda": one person active in two or more institutions, with every record."""

    model_config = ConfigDict(extra="ignore")

    dasar: DasarGanda
    keterangan: str
    siswa: list[DataGandaSiswa] = Field(..., min_length=2)


# Spreadsheet columns (CSV and XLSX, import and export) with the names EMIS operators know, in order.
SISWA_COLUMNS: tuple[tuple[str, str], ...] = (
    ("ID Siswa", "siswa_id"), ("NSM", "nsm"), ("NISN", "nisn"), ("NIK", "nik"), ("Nama Lengkap", "nama"),
    ("Jenis Kelamin", "jenis_kelamin"), ("Tempat Lahir", "tempat_lahir"), ("Tanggal Lahir", "tanggal_lahir"),
    ("Tingkat", "tingkat"), ("Rombel", "rombel"), ("Status Siswa", "status_aktif"), ("No KK", "no_kk"),
    ("Nama Ayah", "nama_ayah"), ("NIK Ayah", "nik_ayah"), ("Nama Ibu Kandung", "nama_ibu_kandung"),
    ("NIK Ibu", "nik_ibu"), ("Nama Wali", "nama_wali"), ("NIK Wali", "nik_wali"),
)
# Exported for reading only (the server's PKH data and the manual data); ignored on import.
PKH_COLUMNS: tuple[str, ...] = (
    "Status PKH", "Keterangan PKH", "Penerima PKH", "Periode PKH", "No KKS", "Sumber Data PKH",
    "Tanggal Sinkron PKH", "Penerima PKH (Manual)", "Periode PKH (Manual)", "No KKS (Manual)",
    "Keterangan PKH (Manual)",
)


class ImportReport(BaseModel):
    """What an import did (or, with ``dry_run``, would do). A file with any bad row imports nothing: the
    answer is then a 422 whose ``errors`` name each bad row and column (``rows[5].NIK Ibu``) and the rule."""

    rows: int = Field(..., description="Data rows read (blank rows skipped)")
    created: int
    updated: int
    unchanged: int
    dry_run: bool = False
