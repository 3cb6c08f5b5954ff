"""Wire models of the review API (hub-only; no other service reads them)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from shared.contracts.common import Strict
from shared.contracts.hub import SourceSystem
from shared.db import StorableText


class CaseStatus(StrEnum):
    OPEN = "OPEN"
    DECIDED = "DECIDED"
    SUPERSEDED = "SUPERSEDED"  # the records changed (or the case resolved itself) before anyone decided


class Verdict(StrEnum):
    LINK = "link"
    NO_LINK = "no_link"


class FieldAgreement(BaseModel):
    field: str
    student: str | None
    candidate: str | None
    agreement: str = Field(..., examples=["exact", "similar 0.93", "differs", "missing"])


class CandidateView(BaseModel):
    no_kk: str
    family_version: int
    kode_wilayah: str | None
    pkh_status: str | None
    person_nik: str | None = Field(None, description="The registry member compared field by field")
    probability: float | None = None
    weight: float | None = None
    evidence: dict[str, str] = Field(default_factory=dict, description="Level of every comparison (fallback)")
    fields: list[FieldAgreement] = Field(default_factory=list)


class StudentSnapshot(BaseModel):
    nama: str
    jenis_kelamin: str
    tanggal_lahir: date
    nik: str | None
    no_kk: str | None
    nama_ibu_kandung: str
    nik_ibu: str | None
    nama_ayah: str
    nik_ayah: str | None


class CaseSummary(BaseModel):
    id: str
    system: SourceSystem
    student_id: str
    status: CaseStatus
    reason: str = Field(..., description="conflict (keys point at two families) or fallback (probable match)")
    detail: str | None
    candidates: int
    created_at: datetime


class CasePage(BaseModel):
    items: list[CaseSummary]
    next_cursor: str | None = None


class DecisionView(BaseModel):
    id: str
    case_id: str
    system: SourceSystem
    student_id: str
    verdict: Verdict
    no_kk: str | None
    reviewer: str
    reason: str
    decided_at: datetime
    reversed_at: datetime | None = None
    reversed_by: str | None = None
    reversal_reason: str | None = None


class CaseView(CaseSummary):
    student: StudentSnapshot
    candidate_families: list[CandidateView]
    decisions: list[DecisionView] = Field(default_factory=list, description="Every decision on this student")


class DecisionCreate(Strict):
    verdict: Verdict
    no_kk: str | None = Field(None, pattern=r"^\d{16}$", description="The candidate family (verdict=link)")
    reason: StorableText = Field(..., min_length=3, max_length=300)


class ReversalCreate(Strict):
    reason: StorableText = Field(..., min_length=3, max_length=300)


class CasesQuery(Strict):
    status: CaseStatus = CaseStatus.OPEN
    cursor: str | None = Field(None, max_length=200)
    limit: int = Field(100, ge=1, le=1000)
