"""sync_hub: the families-at-risk report of a PKH period (``GET /api/v1/families-at-risk``).

NIKs and KK numbers are always masked (``shared.nik.mask``): the hub has no scope that shows them (as
``StudentOutcome.no_kk``). A school acts on its ``student_id``; a PKH companion on the family's masked KK number and
region, which the registry resolves.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from shared.contracts.hub import RunRiskCounts, SourceSystem


class RiskReason(StrEnum):
    NO_SCHOOL_RECORD = "NO_SCHOOL_RECORD"  # a school-age child with no school record linked
    NIK_INVALID = "NIK_INVALID"  # the child's record: every NIK breaks a NIK rule
    NIK_MISMATCH = "NIK_MISMATCH"  # the child's record: its NIK is someone else's
    NO_NIK = "NO_NIK"  # the child's record has no NIK at all
    NIK_NOT_REGISTERED = "NIK_NOT_REGISTERED"  # the record's NIK is valid but not in the registry
    NIK_UNCONFIRMED = "NIK_UNCONFIRMED"  # linked by fallback (name, birth date, mother): the NIK is to confirm
    CHILD_UNIDENTIFIED = "CHILD_UNIDENTIFIED"  # linked to the family, no member has its name and birth date
    HELD_BACK = "HELD_BACK"  # Dapodik holds the record back (an INVALID validation finding)
    IN_REVIEW = "IN_REVIEW"  # waiting in the hub's review queue
    ATTENDANCE_BELOW_85 = "ATTENDANCE_BELOW_85"  # a month of the period under 85 %
    LEFT_SCHOOL = "LEFT_SCHOOL"  # the child left school: the component ends (not an error)
    GRADUATED = "GRADUATED"  # the child graduated: the component ends (not an error)


class RiskActor(StrEnum):
    SCHOOL = "SCHOOL"
    HUB_REVIEWER = "HUB_REVIEWER"
    FAMILY_AND_COMPANION = "FAMILY_AND_COMPANION"  # the family, with its PKH companion (pendamping)
    SCHOOL_AND_FAMILY = "SCHOOL_AND_FAMILY"
    PKH_COMPANION = "PKH_COMPANION"  # notes that the component ends


class ChildAtRisk(BaseModel):
    nik: str | None = Field(None, description="The child's registry NIK, masked; null when the record cannot be "
                            "pinned to a member")
    age: int | None = Field(None, description="The child's age on the period's first day (null: not known)")
    reason: RiskReason
    actor: RiskActor = Field(..., description="Who can fix it")
    error: bool = Field(..., description="False: not an error (the education component ends)")
    system: SourceSystem | None = Field(None, description="The school record's system (null: no record)")
    student_id: str | None = Field(None, description="siswa_id / peserta_didik_id of the school record")
    school: str | None = Field(None, description="NSM (EMIS) or sekolah_id (Dapodik) of the school that acts")
    npsn: str | None = None
    region: str = Field(..., description="The school's kode_wilayah, or the family's when there is no record")
    months_below: list[int] = Field(default_factory=list, description="Months of the period under 85 %")
    evidence: str | None = Field(None, description="What attributed an unlinked record to the family: linked, "
                                 "fallback, no_kk, no_kk_lama, nik_ibu, nik_ayah, nik_wali, review")
    detail: str | None = None


class FamilyAtRisk(BaseModel):
    periode: str
    no_kk: str = Field(..., description="Masked")
    kode_wilayah: str = Field(..., description="The family's region (registry)")
    at_risk: bool = Field(..., description="False when every reason is one that is not an error")
    reasons: list[RiskReason]
    children: list[ChildAtRisk] = Field(..., description="The rows the filters keep")


class RiskSummary(RunRiskCounts):
    periode: str
    sync_run_id: str = Field(..., description="The run whose last stage built the report")
    built_at: datetime
