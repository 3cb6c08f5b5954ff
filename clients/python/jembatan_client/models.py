"""The resources the client returns (field names as the services' OpenAPI has them; unknown fields are kept,
so a newer server does not break an older client; enumerations are plain ``str``/``int`` for the same reason).
``tests/test_sdk.py`` checks every model named in ``MIRRORS`` against the published specs."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

RunStatus = Literal["QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"]
UnitStatus = Literal["WAITING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"]
System = Literal["emis", "dapodik"]


class Resource(BaseModel):
    model_config = ConfigDict(extra="allow")


class RunProgress(Resource):
    units_total: int
    units_done: int
    units_failed: int
    units_waiting: int
    units_running: int
    units_cancelled: int = 0
    students_done: int


class ReadProgress(Resource):
    """What a run's plan has read so far from one upstream (``emis``, ``dapodik``, ``kip``, ``registry``)."""

    source: str
    records: int
    done: bool
    updated_at: datetime
    ranges: int | None = None  # read as this many ranges at once, each a job (None: one stream)
    ranges_done: int | None = None


class SyncRun(Resource):
    id: str
    status: RunStatus
    trigger: str
    systems: list[System]
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    students_read: int = 0
    outcomes: dict[str, int] = {}
    values_written: int = 0
    errors: list[str] = []
    periode: str | None = None
    reading: list[ReadProgress] | None = None
    progress: RunProgress | None = None

    @property
    def ended(self) -> bool:
        return self.status in ("SUCCEEDED", "FAILED", "CANCELLED")


class UnitProgress(Resource):
    id: str
    system: System | None
    region: str
    status: UnitStatus
    attempts: int
    students: int
    outcomes: dict[str, int] = {}
    errors: list[str] = []


class StudentOutcome(Resource):
    sync_run_id: str
    system: System
    student_id: str
    outcome: str
    detail: str | None
    matched_by: str
    no_kk: str | None = None


class CaseSummary(Resource):
    id: str
    system: System
    student_id: str
    status: str
    reason: str
    detail: str | None
    candidates: int
    created_at: datetime


class CaseView(CaseSummary):
    student: dict[str, Any]
    candidate_families: list[dict[str, Any]]
    decisions: list[dict[str, Any]] = []


class DecisionView(Resource):
    id: str
    case_id: str
    system: System
    student_id: str
    verdict: str
    no_kk: str | None
    reviewer: str
    reason: str
    decided_at: datetime
    reversed_at: datetime | None = None
    reversed_by: str | None = None
    reversal_reason: str | None = None


class Siswa(Resource):
    """An EMIS student (``GET /api/v1/siswa/{id}``)."""

    siswa_id: str
    nsm: str
    nama: str
    updated_at: datetime


class PesertaDidik(Resource):
    """A Dapodik student (``GET /api/v1/peserta-didik/{id}``)."""

    peserta_didik_id: str
    sekolah_id: str
    nama: str
    last_update: datetime


class PkhRequest(Resource):
    """An EMIS Request Data PKH (``/api/v1/pkh-requests/{id}``)."""

    id: str
    status: str


class PermintaanPkh(Resource):
    """A Dapodik Request Data PKH's answer."""

    peserta_didik_id: str
    status_padan: str
    matched_by: str
    check_id: str
    dijawab_pada: datetime
    keterangan_padan: str | None = None


class SkKipResponse(Resource):
    nomor_sk: str
    n_applied: int
    n_unchanged: int
    n_unmatched: int
    results: list[dict[str, Any]]
    unmatched: list[dict[str, Any]]


class CheckRequest(Resource):
    """An on-demand check of a few students (a gateway's "Request Data PKH"). The gateway sends the records"""

    system: str
    siswa: list[Siswa] | None = None
    peserta_didik: list[PesertaDidik] | None = None
    kode_wilayah: dict[str, str] | None = None


class CheckResponse(Resource):
    """A check's answer: each student's outcome (``sync_run_id`` holds the check's id) and the result items"""

    check_id: str
    observed_seq: int
    results: list[StudentOutcome]
    items: list[HubResultItem] | None = None


class HubResultItem(Resource):
    """One student's result from the hub; applied all-or-nothing."""

    student_id: str
    outcome: str | None = None
    outcome_detail: str | None = None
    values: dict[str, str | bool | int | None] = {}
    provenance: dict[str, Any]


class ProvenanceRecord(Resource):
    id: str
    sync_run_id: str
    target_system: str
    target_record: str
    field: str
    value: str | bool | int | None
    source_system: str
    source_record: str
    source_version: int
    observed_seq: int
    retrieved_at: datetime
    matched_by: str
    written_at: datetime
    record_hash: str | None = None
    ledger_seq: int | None = None


class FieldProvenance(Resource):
    provenance_id: str
    sync_run_id: str
    source_system: str
    source_record: str
    source_version: int
    observed_seq: int
    retrieved_at: datetime
    matched_by: str
    record_hashes: dict[str, str] | None = None
    field: str
    value: str | bool | int | None
    written_at: datetime
    record_hash: str | None = None


class EducationVerification(Resource):
    """An education verification the hub sent Kemensos for one PKH child and period, with its provenance."""

    provenance_id: str
    periode: str
    nik_anak: str
    no_kk: str | None = None
    enrolled: bool
    active: bool
    months_below_85: list[int]
    source_system: str
    source_record: str
    source_version: int
    school: str
    region: str
    other_records: list[dict[str, str]] | None = None
    status: str
    detail: str | None = None
    version: int
    observed_at: datetime
    sync_run_id: str
    decided_at: datetime
    sent_at: datetime | None = None


class FamilyAtRisk(Resource):
    periode: str
    no_kk: str
    kode_wilayah: str
    at_risk: bool
    reasons: list[str]
    children: list[ChildAtRisk]


class ChildAtRisk(Resource):
    nik: str | None = None
    age: int | None = None
    reason: str
    actor: str
    error: bool
    system: str | None = None
    student_id: str | None = None
    school: str | None = None
    npsn: str | None = None
    region: str
    months_below: list[int] | None = None
    evidence: str | None = None
    detail: str | None = None


class RiskSummary(Resource):
    families: int = 0
    families_component_ends: int = 0
    by_reason: dict[str, int] | None = None
    by_province: dict[str, RiskCounts] | None = None
    periode: str
    sync_run_id: str
    built_at: datetime


class RiskCounts(Resource):
    families: int = 0
    families_component_ends: int = 0
    by_reason: dict[str, int] | None = None


class LedgerPublicKey(Resource):
    algorithm: str = 'Ed25519'
    key_id: str
    public_key: str


class LedgerReport(Resource):
    ok: bool
    entries: int
    by_kind: dict[str, int] | None = None
    checkpoints: int
    checkpointed_seq: int
    unchecked_tail: int
    unledgered: int = 0
    first_problem: LedgerProblem | None = None
    problems: list[LedgerProblem] | None = None
    seconds: float = 0.0


class LedgerProblem(Resource):
    seq: int | None = None
    what: str
    rule: str
    record_id: str | None = None
    provenance_id: str | None = None
    field: str | None = None
    message: str


class LedgerCheckpoint(Resource):
    """A signed Merkle checkpoint over the entries ``first_seq..last_seq`` (inclusive)."""

    first_seq: int
    last_seq: int
    root: str
    chain_hash: str
    previous: str
    created_at: datetime
    key_id: str
    signature: str


class LedgerProof(Resource):
    """What proves that one value was written by the hub and ledgered before ``checkpoint.created_at``."""

    record: dict[str, str | int | bool | None]
    record_hash: str
    seq: int
    leaf_index: int
    tree_size: int
    audit_path: list[str]
    checkpoint: LedgerCheckpoint
    public_key: LedgerPublicKey


class LedgerLookup(Resource):
    record_hashes: list[str]


class LedgerLookupAnswer(Resource):
    found: dict[str, int]


class WhoReadRequest(Resource):
    nik: str


class WhoRead(Resource):
    nik: str
    reads: list[AccessEntry]


class AccessEntry(Resource):
    seq: int
    at: datetime
    actor_kind: str
    actor: str
    actor_name: str
    roles: list[str]
    route: str
    purpose: str
    records: list[dict[str, str]]


class ChainReport(Resource):
    ok: bool
    entries: int
    first_broken: int | None = None
    reason: str | None = None
    head: str | None = None


class SyncRunCreate(Resource):
    systems: list[str] | None = None
    full: bool = False
    periode: str | None = None


class DecisionCreate(Resource):
    verdict: str
    no_kk: str | None = None
    reason: str


class ReversalCreate(Resource):
    reason: str


class Madrasah(Resource):
    nsm: str
    npsn: str
    nama: str
    jenjang: str
    status: str
    kode_wilayah: str
    jumlah_siswa: int = 0
    last_sync: datetime | None = None
    sinkron_terakhir: SinkronRingkasan | None = None


class Pesantren(Resource):
    nspp: str
    npsn: str | None = None
    nama: str
    status: str = 'SWASTA'
    kode_wilayah: str
    jumlah_santri: int = 0
    last_sync: datetime | None = None
    sinkron_terakhir: SinkronRingkasan | None = None


class PkhManualInput(Resource):
    """PKH data an operator enters by hand (from a KKS card, a letter...). Kept apart from the server data:"""

    penerima_pkh: bool | None = None
    periode_pkh: str | None = None
    no_kks: str | None = None
    keterangan: str | None = None


class HubResultBatch(Resource):
    sync_run_id: str
    items: list[HubResultItem]


class HubResultBatchResponse(Resource):
    results: list[HubResultItemStatus]


class HubResultItemStatus(Resource):
    student_id: str
    status: str
    fields_written: list[str] = []
    detail: str | None = None
    held: dict[str, str] | None = None


class PkhAnswer(Resource):
    """One student's answer to a PKH request: why (``status_pkh``) and the PKH data now stored."""

    siswa_id: str
    state: str
    status_pkh: str | None = None
    keterangan_pkh: str | None = None
    matched_by: str | None = None
    sync_run_id: str | None = None
    dijawab_pada: datetime | None = None
    pkh: dict[str, Any] | None = None


class DataGanda(Resource):
    """"Data ganda": one person active in two or more institutions, with every record."""

    dasar: str
    keterangan: str
    siswa: list[DataGandaSiswa]


class DataGandaSiswa(Resource):
    """One record of a duplicate: enough to find it, the NIK masked (the records belong to other madrasah)."""

    siswa_id: str
    nsm: str
    nama_madrasah: str | None = None
    nisn: str | None = None
    nik: str | None = None
    nama: str
    tanggal_lahir: date
    nama_ibu_kandung: str
    tingkat: int
    rombel: str


class MadrasahSinkron(Resource):
    """The sync screen of a madrasah: when it last synced, what that sync changed, the runs before."""

    nsm: str
    last_sync: datetime | None = None
    terakhir: SinkronRingkasan | None = None
    riwayat: list[SinkronRingkasan] | None = None


class SinkronRingkasan(Resource):
    """What one sync run (or on-demand check) of the hub did to the students of one madrasah."""

    sync_run_id: str
    mulai: datetime
    selesai: datetime
    siswa: int
    diubah: int
    tetap: int
    usang: int = 0
    ditolak: int = 0
    nilai_diubah: int
    per_field: dict[str, int] | None = None


class Perubahan(Resource):
    """One value a sync changed: the student, the field, the value before and after."""

    siswa_id: str
    nama: str
    field: str
    nilai_lama: str | bool | int | None
    nilai_baru: str | bool | int | None
    waktu: datetime


class ImportReport(Resource):
    """What an import did (or, with ``dry_run``, would do). A file with any bad row imports nothing: the"""

    rows: int
    created: int
    updated: int
    unchanged: int
    dry_run: bool = False


class KehadiranImportReport(Resource):
    """What an attendance import of one school and PKH period did (both gateways; VERKOM CSV or the gateway's"""

    format: str
    tahun: int
    tahap: int
    rows: int
    inserted: int
    updated: int
    unchanged: int
    students_changed: int
    dry_run: bool = False


class SiswaFeed(Resource):
    """A page of the hub's change feed of students."""

    items: list[Siswa]
    next_cursor: str | None = None
    resume_cursor: str


class FeedEnd(Resource):
    """Where a gateway's change feed for the hub ends now, and how many records it holds."""

    resume_cursor: str
    records: int


class FeedRead(Resource):
    """The hub says it holds the whole feed up to a ``FeedEnd.resume_cursor`` (read before its ranges)."""

    resume_cursor: str


class FeedReadAnswer(Resource):
    """How many schools' read positions a ``FeedRead`` moved."""

    positions_moved: int


class Sekolah(Resource):
    sekolah_id: str
    npsn: str
    nama: str
    bentuk_pendidikan: str
    status_sekolah: str
    kode_wilayah: str
    jumlah_peserta_didik: int = 0
    last_sync: datetime | None = None


class Sinkronisasi(Resource):
    """A school's sync screen."""

    npsn: str
    sekolah_id: str
    last_sync: datetime | None = None
    last_read_by_hub: datetime | None = None
    last_results_at: datetime | None = None
    local_changes_waiting: int
    held_back: int
    last_run: SyncLogRun | None = None


class SyncLogRun(Resource):
    """What one sync run did to one school: the sum of its ``table_sync_log`` rows (one per results batch)."""

    sync_run_id: str
    begin_sync: datetime
    end_sync: datetime
    batches: int
    n_create: int
    n_update: int
    n_konflik: int
    n_unchanged: int
    n_rejected: int


class PerubahanKeluar(Resource):
    """A local change waiting to go out: a record the hub has not read since it last changed."""

    peserta_didik_id: str
    nipd: str
    nama: str
    jenis: str
    status_validasi: int
    last_update: datetime


class PerubahanMasuk(Resource):
    """An incoming change applied by a sync run: one value the hub wrote."""

    peserta_didik_id: str
    nipd: str
    nama: str
    field: str
    old_value: str | bool | int | None = None
    new_value: str | bool | int | None
    value_changed: bool
    jenis: str
    provenance_id: str
    source_system: str
    source_record: str
    written_at: datetime


class SpreadsheetImportReport(Resource):
    """A successful import. A file with any bad row imports nothing: the answer is a 422 whose ``errors``"""

    format: str
    rows: int
    created: int
    updated: int
    unchanged: int
    results: list[ImportRow]


class ImportRow(Resource):
    row: int
    peserta_didik_id: str
    status: str
    fields_changed: list[str] = []


class PesertaDidikEdit(Resource):
    """An operator's change to a student's record: only the fields given change (null empties a field)."""

    nipd: str | None = None
    nisn: str | None = None
    nik: str | None = None
    no_kk: str | None = None
    nama: str | None = None
    jenis_kelamin: str | None = None
    tempat_lahir: str | None = None
    tanggal_lahir: date | None = None
    tingkat_pendidikan_id: int | None = None
    nama_ayah: str | None = None
    nik_ayah: str | None = None
    nama_ibu_kandung: str | None = None
    nik_ibu: str | None = None
    nama_wali: str | None = None
    nik_wali: str | None = None
    penerima_kps: bool | None = None
    no_kps: str | None = None
    penerima_kip: bool | None = None
    no_kip: str | None = None
    nm_kip: str | None = None
    layak_pip: bool | None = None
    no_kks: str | None = None


class RiwayatNilai(Resource):
    """One change of the record (``GET /api/v1/peserta-didik/{id}/riwayat``)."""

    field: str
    old_value: str | bool | int | None
    new_value: str | bool | int | None
    changed_at: datetime
    provenance_id: str | None = None
    source: str = 'hub'
    changed_by: str | None = None


class ValidasiPesertaDidik(Resource):
    """A student's validation: the worst class and every finding."""

    peserta_didik_id: str
    sekolah_id: str
    nipd: str
    nama: str
    status_validasi: int
    temuan: list[TemuanValidasi]
    last_update: datetime


class TemuanValidasi(Resource):
    """One validation finding (a ``vld_peserta_didik`` row): the rule and the field, never the field's value."""

    idtype: int
    kode: str
    status_validasi: int
    field_error: str
    error_message: str


class KesejahteraanPd(Resource):
    """A student's welfare programme row (``kesejahteraan_pd``), derived from the record's KIP/KPS/PKH/KKS"""

    id_sejahtera_pd: str
    peserta_didik_id: str
    jenis_kesejahteraan_id: int
    nama_jenis: str
    nomor: str | None = None
    nm_di_kartu: str | None = None
    dari_tahun: int
    sampai_tahun: int | None = None
    aktif: bool
    asal_data: str
    last_update: datetime


class SkKipBatch(Resource):
    sk: SkKip
    items: list[SkKipItem]


class SkKip(Resource):
    """The decree's metadata."""

    nomor_sk: str
    tanggal_sk: date
    sumber: str


class SkKipItem(Resource):
    """One KIP issuance of the SK."""

    peserta_didik_id: str
    no_kip: str
    nm_kip: str
    nisn: str | None = None
    npsn: str | None = None


class KipTidakCocok(Resource):
    """A KIP issuance that matched no student, kept for manual follow-up."""

    id: int
    nomor_sk: str
    tanggal_sk: date
    peserta_didik_id: str
    no_kip: str
    nm_kip: str
    nisn: str | None
    npsn: str | None
    alasan: str
    created_at: datetime
    resolved_at: datetime | None = None


class PesertaDidikFeed(Resource):
    """A page of the hub's change feed."""

    items: list[PesertaDidik]
    removed: list[PesertaDidikKeluar] | None = None
    next_cursor: str | None = None
    resume_cursor: str


class PesertaDidikKeluar(Resource):
    """A tombstone of the hub's feed: a record that is (now) outside the feed, at the position where it last"""

    peserta_didik_id: str
    alasan: str


# SDK model -> (service, OpenAPI schema) it mirrors: tests/test_sdk.py checks names and required fields
MIRRORS: dict[type[Resource], tuple[str, str]] = {
    RunProgress: ("sync_hub", "RunProgress"), SyncRun: ("sync_hub", "SyncRun"),
    ReadProgress: ("sync_hub", "ReadProgress"),
    UnitProgress: ("sync_hub", "UnitProgress"), StudentOutcome: ("sync_hub", "StudentOutcome"),
    CaseSummary: ("sync_hub", "CaseSummary"), CaseView: ("sync_hub", "CaseView"),
    DecisionView: ("sync_hub", "DecisionView"), Siswa: ("emis_gateway", "Siswa"),
    PkhRequest: ("emis_gateway", "PkhRequest"), PesertaDidik: ("dapodik_gateway", "PesertaDidik"),
    PermintaanPkh: ("dapodik_gateway", "PermintaanPkh"), SkKipResponse: ("dapodik_gateway", "SkKipResponse"),
    CheckRequest: ("sync_hub", "CheckRequest"), CheckResponse: ("sync_hub", "CheckResponse"),
    HubResultItem: ("sync_hub", "HubResultItem"), ProvenanceRecord: ("sync_hub", "ProvenanceRecord"),
    FieldProvenance: ("sync_hub", "FieldProvenance"), EducationVerification: ("sync_hub", "EducationVerification"),
    FamilyAtRisk: ("sync_hub", "FamilyAtRisk"), ChildAtRisk: ("sync_hub", "ChildAtRisk"), RiskSummary: ("sync_hub",
    "RiskSummary"), RiskCounts: ("sync_hub", "RiskCounts"), LedgerPublicKey: ("sync_hub", "LedgerPublicKey"),
    LedgerReport: ("sync_hub", "LedgerReport"), LedgerProblem: ("sync_hub", "LedgerProblem"),
    LedgerCheckpoint: ("sync_hub", "LedgerCheckpoint"), LedgerProof: ("sync_hub", "LedgerProof"),
    LedgerLookup: ("sync_hub", "LedgerLookup"), LedgerLookupAnswer: ("sync_hub", "LedgerLookupAnswer"),
    WhoReadRequest: ("sync_hub", "WhoReadRequest"), WhoRead: ("sync_hub", "WhoRead"), AccessEntry: ("sync_hub",
    "AccessEntry"), ChainReport: ("sync_hub", "ChainReport"), SyncRunCreate: ("sync_hub", "SyncRunCreate"),
    DecisionCreate: ("sync_hub", "DecisionCreate"), ReversalCreate: ("sync_hub", "ReversalCreate"),
    Madrasah: ("emis_gateway", "Madrasah"), Pesantren: ("emis_gateway", "Pesantren"),
    PkhManualInput: ("emis_gateway", "PkhManualInput"), HubResultBatch: ("emis_gateway", "HubResultBatch"),
    HubResultBatchResponse: ("emis_gateway", "HubResultBatchResponse"), HubResultItemStatus: ("emis_gateway",
    "HubResultItemStatus"), PkhAnswer: ("emis_gateway", "PkhAnswer"), DataGanda: ("emis_gateway", "DataGanda"),
    DataGandaSiswa: ("emis_gateway", "DataGandaSiswa"), MadrasahSinkron: ("emis_gateway", "MadrasahSinkron"),
    SinkronRingkasan: ("emis_gateway", "SinkronRingkasan"), Perubahan: ("emis_gateway", "Perubahan"),
    ImportReport: ("emis_gateway", "ImportReport"), KehadiranImportReport: ("emis_gateway",
    "KehadiranImportReport"), SiswaFeed: ("emis_gateway", "SiswaFeed"),
    FeedEnd: ("emis_gateway", "FeedEnd"), FeedRead: ("dapodik_gateway", "FeedRead"),
    FeedReadAnswer: ("dapodik_gateway", "FeedReadAnswer"), Sekolah: ("dapodik_gateway", "Sekolah"),
    Sinkronisasi: ("dapodik_gateway", "Sinkronisasi"), SyncLogRun: ("dapodik_gateway", "SyncLogRun"),
    PerubahanKeluar: ("dapodik_gateway", "PerubahanKeluar"), PerubahanMasuk: ("dapodik_gateway", "PerubahanMasuk"),
    SpreadsheetImportReport: ("dapodik_gateway", "ImportReport"), ImportRow: ("dapodik_gateway", "ImportRow"),
    PesertaDidikEdit: ("dapodik_gateway", "PesertaDidikEdit"), RiwayatNilai: ("dapodik_gateway", "RiwayatNilai"),
    ValidasiPesertaDidik: ("dapodik_gateway", "ValidasiPesertaDidik"), TemuanValidasi: ("dapodik_gateway",
    "TemuanValidasi"), KesejahteraanPd: ("dapodik_gateway", "KesejahteraanPd"), SkKipBatch: ("dapodik_gateway",
    "SkKipBatch"), SkKip: ("dapodik_gateway", "SkKip"), SkKipItem: ("dapodik_gateway", "SkKipItem"),
    KipTidakCocok: ("dapodik_gateway", "KipTidakCocok"), PesertaDidikFeed: ("dapodik_gateway", "PesertaDidikFeed"),
    PesertaDidikKeluar: ("dapodik_gateway", "PesertaDidikKeluar"),
}

for _model in MIRRORS:
    _model.model_rebuild()
