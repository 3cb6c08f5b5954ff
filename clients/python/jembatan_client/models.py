"""The resources the client returns (field names as the services' OpenAPI has them; unknown fields are kept,
so a newer server does not break an older client). ``tests/test_sdk.py`` checks them against the specs."""

from __future__ import annotations

from datetime import datetime
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


# SDK model -> (service, OpenAPI schema) it mirrors: tests/test_sdk.py checks names and required fields
MIRRORS: dict[type[Resource], tuple[str, str]] = {
    RunProgress: ("sync_hub", "RunProgress"), SyncRun: ("sync_hub", "SyncRun"),
    UnitProgress: ("sync_hub", "UnitProgress"), StudentOutcome: ("sync_hub", "StudentOutcome"),
    CaseSummary: ("sync_hub", "CaseSummary"), CaseView: ("sync_hub", "CaseView"),
    DecisionView: ("sync_hub", "DecisionView"), Siswa: ("emis_gateway", "Siswa"),
    PkhRequest: ("emis_gateway", "PkhRequest"), PesertaDidik: ("dapodik_gateway", "PesertaDidik"),
    PermintaanPkh: ("dapodik_gateway", "PermintaanPkh"), SkKipResponse: ("dapodik_gateway", "SkKipResponse"),
}
