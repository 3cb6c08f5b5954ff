"""Dapodik (Kemendikdasmen) gateway, with Dapodik's own field names (DOMAIN.md §2.3)."""

from __future__ import annotations

from datetime import date, datetime
from enum import IntEnum, StrEnum

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.common import FieldProvenance, JenisKelamin, MatchKey, Outcome, RawId, Strict
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


class JenisKeluar(IntEnum):
    """``registrasi_peserta_didik.jenis_keluar_id``: why a student left the school (Dapodik's reference list)."""

    LULUS = 1
    MUTASI = 2
    DIKELUARKAN = 3
    MENGUNDURKAN_DIRI = 4
    PUTUS_SEKOLAH = 5
    WAFAT = 6
    HILANG = 7
    LAINNYA = 99


class KehadiranPdRecord(Strict):
    """kehadiran_pd.jsonl and the attendance import: a student's attendance in one month, as the school
    records it (the report card's *sakit / izin / tanpa keterangan*), for PKH's education commitment."""

    peserta_didik_id: str = Field(..., pattern=r"^[0-9a-f-]{36}$", description="UUID")
    tahun: int = Field(..., ge=2000, le=2100, description="Calendar year of the month")
    bulan: int = Field(..., ge=1, le=12, description="Month 1-12")
    jml_hari_efektif: int = Field(..., ge=1, le=31, description="Effective school days of the month")
    jml_sakit: int = Field(..., ge=0, le=31, description="Days absent, sick")
    jml_izin: int = Field(..., ge=0, le=31, description="Days absent, excused")
    jml_tanpa_keterangan: int = Field(..., ge=0, le=31, description="Days absent without notice (alpa)")


class RegistrasiKeluarRecord(Strict):
    """registrasi_keluar.jsonl: a student who left the school (``registrasi_peserta_didik``)."""

    peserta_didik_id: str = Field(..., pattern=r"^[0-9a-f-]{36}$", description="UUID")
    jenis_keluar_id: JenisKeluar
    tanggal_keluar: date = Field(..., description="Last day at the school")


class KehadiranPd(KehadiranPdRecord):
    """A month of a student's attendance with what PKH reads from it."""

    model_config = ConfigDict(extra="ignore")

    jml_tidak_hadir: int = Field(..., description="jml_sakit + jml_izin + jml_tanpa_keterangan (VERKOM `Jml`)")
    persen_hadir: float = Field(..., description="Days present over jml_hari_efektif, percent, one decimal")
    memenuhi_85_persen: bool = Field(..., description="Present on at least 85% of the effective days")


class PesertaDidikEdit(Strict):
    """An operator's change to a student's record: only the fields given change (null empties a field)."""

    nipd: str | None = Field(None, max_length=30)
    nisn: RawId = None
    nik: RawId = None
    no_kk: RawId = None
    nama: str | None = Field(None, min_length=1, max_length=100)
    jenis_kelamin: JenisKelamin | None = None
    tempat_lahir: str | None = Field(None, max_length=100)
    tanggal_lahir: date | None = None
    tingkat_pendidikan_id: int | None = Field(None, ge=1, le=13)
    nama_ayah: str | None = Field(None, max_length=100)
    nik_ayah: RawId = None
    nama_ibu_kandung: str | None = Field(None, max_length=100)
    nik_ibu: RawId = None
    nama_wali: str | None = Field(None, max_length=100)
    nik_wali: RawId = None
    penerima_kps: bool | None = None
    no_kps: str | None = Field(None, max_length=40)
    penerima_kip: bool | None = None
    no_kip: str | None = Field(None, max_length=10)
    nm_kip: str | None = Field(None, max_length=100)
    layak_pip: bool | None = None
    no_kks: str | None = Field(None, max_length=40)


# Fields the hub may write on a peserta_didik (HubResultItem.values keys) besides the outcome.
DAPODIK_HUB_FIELDS = ("penerima_kps", "no_kps", "penerima_kip", "no_kip", "nm_kip")


class StatusValidasi(IntEnum):
    """Dapodik's classes of a validation finding (``vld_peserta_didik.status_validasi``)."""

    VALID = 0  # no finding
    WARNING = 1  # peringatan: shown to the operator, the record is synced
    INVALID = 2  # invalid: the record is held back from sync until fixed


class TemuanValidasi(BaseModel):
    """One validation finding (a ``vld_peserta_didik`` row): the rule and the field, never the field's value."""

    model_config = ConfigDict(extra="ignore")

    idtype: int = Field(..., description="Rule number (Dapodik's ref.errortype)")
    kode: str = Field(..., examples=["nik_sama_no_kk"], description="Rule code")
    status_validasi: StatusValidasi
    field_error: str = Field(..., examples=["nik"], description="The field that broke the rule")
    error_message: str = Field(..., description="Why, in words (what was seen, never the value)")


# The hub-facing contract (``/api/v1/hub/...``, the hub's credential):
# - ``GET /api/v1/hub/peserta-didik`` is the change feed the hub syncs from (``PesertaDidikFeed``): every
#   validated record in the order it last changed (load, import, operator edit, KIP SK; hub writes are not
#   changes), a record that changes again moving to the end. Page with ``cursor`` (= ``next_cursor``, null
#   after the last page); every page also carries ``resume_cursor``, the position after its last record: keep
#   the last one and pass it as ``since`` next run to read only what changed since. Positions are
#   (change number, id): many records share one change number (one load) and commit order is kept, so
#   paging is exact even while records change (a record changed after it was read comes again later).
# - A record with an INVALID finding is *held back* (Dapodik's word), not left out: it is in the feed like any
#   other, with ``status_validasi`` 2 and its findings in ``temuan_validasi`` (rule code and field, never the
#   value), so that every student ends a run with an outcome. The hub does not use a key a finding names as
#   broken (a placeholder NIK, the KK number or a parent's NIK typed as the child's) and decides the record on
#   the keys that remain, each verified like any other; fixing the record is a change, so it comes again.
#   ``GET /api/v1/hub/peserta-didik/{id}`` answers held-back records too (404 only for no such record, rule
#   ``not_found``, or one not validated yet, rule ``not_validated``). Held-back records are still listed per
#   school at ``GET /api/v1/sekolah/{npsn}/validasi?status_validasi=2`` for the operator to fix.
# - ``POST /api/v1/hub/results`` applies the hub's results (``HubResultBatch``) to any active record, held
#   back or not.
HUB_FEED_PATH = "/api/v1/hub/peserta-didik"


class PesertaDidik(PesertaDidikRecord):
    # A read model: a newer server may add fields, so clients ignore what they do not know.
    model_config = ConfigDict(extra="ignore")

    status_padan: Outcome | None = Field(None, description="Hub outcome for this student's family link")
    keterangan_padan: str | None = None
    status_validasi: StatusValidasi | None = Field(
        None, description="Worst validation finding (0 none, 1 warning, 2 invalid: held back, synced with its "
        "findings in `temuan_validasi`); null until validated")
    last_update: datetime
    last_sync: datetime | None = None
    provenance: list[FieldProvenance] = Field(default_factory=list, description="Latest per hub-written field")
    jenis_keluar_id: JenisKeluar | None = Field(None, description="Set when the student left the school")
    tanggal_keluar: date | None = Field(None, description="Last day at the school")
    kehadiran_pd: list[KehadiranPd] = Field(
        default_factory=list, description="Monthly attendance, oldest month first; a change to it moves the "
        "record in the hub's feed")
    temuan_validasi: list[TemuanValidasi] = Field(
        default_factory=list, description="Every validation finding (warnings and invalid), rule and field, "
        "never the value; with `status_validasi` 2 the record is held back and the hub does not use the keys "
        "its INVALID findings name")


class Sekolah(SekolahRecord):
    # A read model: a newer server may add fields, so clients ignore what they do not know.
    model_config = ConfigDict(extra="ignore")

    jumlah_peserta_didik: int = 0
    last_sync: datetime | None = None


class AlasanKeluar(StrEnum):
    """Why a record left the hub's working set (a tombstone in the feed)."""

    # No longer sent: a held-back record is in the feed with its findings (``PesertaDidik.temuan_validasi``).
    # Kept so that a reader of an older gateway still parses its tombstones.
    HELD_BACK_INVALID = "held_back_invalid"
    NOT_VALIDATED = "not_validated"  # not validated yet
    DELETED = "deleted"  # soft-deleted (no longer enrolled here)


class PesertaDidikKeluar(BaseModel):
    """A tombstone of the hub's feed: a record that is (now) outside the feed, at the position where it last
    changed. Only sent when the hub asks with ``removed=true``."""

    model_config = ConfigDict(extra="ignore")

    peserta_didik_id: str
    alasan: AlasanKeluar


class PesertaDidikFeed(BaseModel):
    """A page of the hub's change feed."""

    model_config = ConfigDict(extra="ignore")

    items: list[PesertaDidik]
    removed: list[PesertaDidikKeluar] = Field(
        default_factory=list, description="With `removed=true`: records in this page's range that are not "
        "validated yet or deleted (tombstones), so a reader holding a copy drops them")
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page; null after the last")
    resume_cursor: str = Field(..., description="The position after this page's last record (or the position "
                               "asked for, when the page is empty): pass as `since` to read what changed since")


class ValidasiPesertaDidik(BaseModel):
    """A student's validation: the worst class and every finding."""

    model_config = ConfigDict(extra="ignore")

    peserta_didik_id: str
    sekolah_id: str
    nipd: str
    nama: str
    status_validasi: StatusValidasi
    temuan: list[TemuanValidasi]
    last_update: datetime


class JenisPerubahan(StrEnum):
    CREATE = "create"
    UPDATE = "update"


class SyncLogRun(BaseModel):
    """What one sync run did to one school: the sum of its ``table_sync_log`` rows (one per results batch).
    Counted per item: ``n_create`` the student's first hub values, ``n_update`` hub values changed,
    ``n_konflik`` results older than what the record holds (STALE), ``n_unchanged``, ``n_rejected``."""

    model_config = ConfigDict(extra="ignore")

    sync_run_id: str
    begin_sync: datetime
    end_sync: datetime
    batches: int
    n_create: int
    n_update: int
    n_konflik: int
    n_unchanged: int
    n_rejected: int


class Sinkronisasi(BaseModel):
    """A school's sync screen."""

    model_config = ConfigDict(extra="ignore")

    npsn: str
    sekolah_id: str
    last_sync: datetime | None = Field(None, description="The later of the hub's last read and last results")
    last_read_by_hub: datetime | None = Field(None, description="When the hub last read this school's records")
    last_results_at: datetime | None = Field(None, description="When the hub last applied results here")
    local_changes_waiting: int = Field(..., description="Records changed since the hub last read them")
    held_back: int = Field(..., description="Records held back by validation (INVALID findings) or not validated "
                           "yet; a held-back record reaches the hub with its findings, which name what to fix")
    last_run: SyncLogRun | None = Field(None, description="The last sync run that applied results here")


class PerubahanKeluar(BaseModel):
    """A local change waiting to go out: a record the hub has not read since it last changed."""

    model_config = ConfigDict(extra="ignore")

    peserta_didik_id: str
    nipd: str
    nama: str
    jenis: JenisPerubahan = Field(..., description="create: new since the hub last read the school")
    status_validasi: StatusValidasi
    last_update: datetime


class PerubahanMasuk(BaseModel):
    """An incoming change applied by a sync run: one value the hub wrote."""

    model_config = ConfigDict(extra="ignore")

    peserta_didik_id: str
    nipd: str
    nama: str
    field: str
    old_value: str | bool | int | None = Field(None, description="The value it replaced")
    new_value: str | bool | int | None
    value_changed: bool = Field(..., description="false: the hub attested the value the record already held")
    jenis: JenisPerubahan = Field(..., description="create: the hub's first value of this field here")
    provenance_id: str
    source_system: str
    source_record: str
    written_at: datetime


class JenisKesejahteraan(IntEnum):
    """``kesejahteraan_pd.jenis_kesejahteraan_id`` as Dapodik's validator numbers them (DOMAIN.md §2.3)."""

    PIP = 11
    PKH = 12
    KPS = 13
    KKS = 14
    KIS = 15


class KesejahteraanPd(BaseModel):
    """A student's welfare programme row (``kesejahteraan_pd``), derived from the record's KIP/KPS/PKH/KKS
    fields and kept consistent with them: PIP from ``penerima_kip``/``no_kip``/``nm_kip``, PKH from
    ``penerima_kps`` (the hub writes the PKH status there), KPS from ``penerima_kps``/``no_kps``, KKS from
    ``no_kks``. KIS has no field on the record, so no row is derived for it. A programme that ends keeps its
    row with ``sampai_tahun`` set."""

    model_config = ConfigDict(extra="ignore")

    id_sejahtera_pd: str
    peserta_didik_id: str
    jenis_kesejahteraan_id: JenisKesejahteraan
    nama_jenis: str = Field(..., examples=["PIP"])
    nomor: str | None = Field(None, description="Card or participant number")
    nm_di_kartu: str | None = Field(None, description="Name printed on the card")
    dari_tahun: int
    sampai_tahun: int | None = Field(None, description="Set when the programme ended")
    aktif: bool
    asal_data: str = Field(..., description="Where the deciding value came from: a source system "
                           "(kemensos.dtsen, kemensos.kip, an SK) or 'sekolah' (the school's own entry)")
    last_update: datetime


# -- KIP arrives as an SK (decree) batch ------------------------------------------------------------------

KIP_PATTERN = r"^[A-Z0-9]{6}$"


class SkKip(Strict):
    """The decree's metadata."""

    nomor_sk: str = Field(..., min_length=1, max_length=60, pattern=r"^[^\x00-\x1f]+$",
                          examples=["SK-1234/PIP/2026"], description="The SK's number: it identifies the decree")
    tanggal_sk: date
    sumber: str = Field(..., min_length=1, max_length=40, pattern=r"^[a-z0-9_.-]+$", examples=["puslapdik"],
                        description="Who issued it")


class SkKipItem(Strict):
    """One KIP issuance of the SK."""

    peserta_didik_id: str = Field(..., pattern=r"^[0-9a-f-]{36}$")
    no_kip: str = Field(..., pattern=KIP_PATTERN, description="6-character KIP code")
    nm_kip: str = Field(..., min_length=1, max_length=100, pattern=r"^[^\x00-\x1f]+$",
                        description="Name printed on the card")
    nisn: str | None = Field(None, pattern=r"^\d{10}$", description="If given, must be the record's NISN")
    npsn: str | None = Field(None, pattern=r"^\d{8}$", description="If given, must be the record's school")


class SkKipBatch(Strict):
    sk: SkKip
    items: list[SkKipItem] = Field(..., min_length=1, max_length=1000)


class SkItemStatus(StrEnum):
    APPLIED = "APPLIED"  # at least one value changed (or was attested for the first time)
    UNCHANGED = "UNCHANGED"  # the record already holds this issuance from an SK or the hub
    UNMATCHED = "UNMATCHED"  # no such student, or the NISN/NPSN given disagree: listed for follow-up


class SkKipItemStatus(BaseModel):
    peserta_didik_id: str
    no_kip: str
    status: SkItemStatus
    fields_written: list[str] = []
    detail: str | None = None


class KipTidakCocok(BaseModel):
    """A KIP issuance that matched no student, kept for manual follow-up."""

    model_config = ConfigDict(extra="ignore")

    id: int
    nomor_sk: str
    tanggal_sk: date
    peserta_didik_id: str
    no_kip: str
    nm_kip: str
    nisn: str | None
    npsn: str | None
    alasan: str = Field(..., examples=["unknown_peserta_didik_id", "nisn_mismatch", "npsn_mismatch"])
    created_at: datetime
    resolved_at: datetime | None = Field(None, description="Set when a later SK applied to this student")


class SkKipResponse(BaseModel):
    nomor_sk: str
    n_applied: int
    n_unchanged: int
    n_unmatched: int
    results: list[SkKipItemStatus] = Field(..., description="One per item, in request order")
    unmatched: list[KipTidakCocok] = Field(..., description="The issuances of this SK that matched no student")


# -- spreadsheets -------------------------------------------------------------------------------------------

class ImportStatus(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


class ImportRow(BaseModel):
    row: int = Field(..., description="The spreadsheet's row number (the header is row 1)")
    peserta_didik_id: str
    status: ImportStatus
    fields_changed: list[str] = []


class ImportReport(BaseModel):
    """A successful import. A file with any bad row imports nothing: the answer is a 422 whose ``errors``
    name each bad cell as ``rows[<row>].<column>`` with the rule it breaks."""

    model_config = ConfigDict(extra="ignore")

    format: str
    rows: int
    created: int
    updated: int
    unchanged: int
    results: list[ImportRow]


class PermintaanPkh(BaseModel):
    """The answer to "Request Data PKH" for one student: the hub's outcome, saved in the same step (the values
    it brings are written with their provenance), and the record as it stands now."""

    peserta_didik_id: str
    status_padan: Outcome
    keterangan_padan: str | None = None
    matched_by: MatchKey
    check_id: str = Field(..., description="The hub's check that decided it (its provenance names it)")
    nilai_ditulis: list[str] = Field(default_factory=list, description="Fields written by this answer")
    dijawab_pada: datetime
    peserta_didik: PesertaDidik
