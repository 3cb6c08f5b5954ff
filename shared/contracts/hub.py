"""sync_hub: sync runs, per-student outcomes, provenance."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints, ValidationInfo, field_validator

from shared.contracts.common import HubResultItem, MatchKey, Outcome, Strict
from shared.contracts.dapodik import PesertaDidik
from shared.contracts.emis import Siswa


class SourceSystem(StrEnum):
    EMIS = "emis"
    DAPODIK = "dapodik"


class RunStatus(StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


class UnitStatus(StrEnum):
    WAITING = "WAITING"  # planned, its job queued (or retried after an error it can recover from)
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


class SyncRunCreate(Strict):
    systems: list[SourceSystem] = Field(default_factory=lambda: [SourceSystem.EMIS, SourceSystem.DAPODIK],
                                        min_length=1, max_length=2)
    full: bool = Field(False, description="Read every student again from the gateways instead of only what "
                       "changed since the last run (the hub's copy of each system is rebuilt)")
    periode: str | None = Field(None, pattern=r"^\d{4}-T[1-4]$", examples=["2026-T3"],
                                description="The PKH period to send education verifications for (default: "
                                "HUB_VERIFICATION_PERIOD, else the period of the newest attendance month reported)")

    @field_validator("systems")
    @classmethod
    def _once_each(cls, systems: list[SourceSystem]) -> list[SourceSystem]:
        if len(set(systems)) != len(systems):
            raise ValueError("each system may be named once")
        return systems


MAX_CHECK = 100
KodeWilayah = Annotated[str, StringConstraints(pattern=r"^\d{2,10}$")]


class CheckRequest(Strict):
    """An on-demand check of a few students (a gateway's "Request Data PKH"). The gateway sends the records
    themselves (EMIS ``siswa`` or Dapodik ``peserta_didik``, as its own read API gives them, with the hub
    fields and their provenance) and each one's school region; the hub decides from its replica of the
    registry and answers with the outcomes and the result items, which the gateway applies itself. (Until
    issue 9 a check named ``student_ids`` and the hub read the records back and pushed the results: that
    field is gone, an unknown field is a 422.)"""

    system: SourceSystem
    siswa: list[Siswa] = Field(default_factory=list, max_length=MAX_CHECK, validate_default=True,
                               description="The EMIS records to check (system emis)")
    peserta_didik: list[PesertaDidik] = Field(default_factory=list, max_length=MAX_CHECK, validate_default=True,
                                              description="The Dapodik records to check (system dapodik)")
    kode_wilayah: dict[Annotated[str, StringConstraints(min_length=1, max_length=64)], KodeWilayah] = Field(
        default_factory=dict, description="Student id -> the region of the student's school (kode_wilayah): the "
        "only address a student record has (the fallback's blocks)")

    @field_validator("siswa", "peserta_didik")
    @classmethod
    def _of_the_system(cls, records: list[Siswa] | list[PesertaDidik], info: ValidationInfo
                       ) -> list[Siswa] | list[PesertaDidik]:
        system = info.data.get("system")
        mine = {SourceSystem.EMIS: "siswa", SourceSystem.DAPODIK: "peserta_didik"}.get(system)  # type: ignore[arg-type]
        if mine is None:  # the system itself is invalid: reported on its own
            return records
        if info.field_name != mine and records:
            raise ValueError(f"records of another system than {system.value}")  # type: ignore[union-attr]
        if info.field_name == mine:
            if not records:
                raise ValueError("at least one record is needed")
            ids = [r.siswa_id if isinstance(r, Siswa) else r.peserta_didik_id for r in records]
            if len(set(ids)) != len(ids):
                raise ValueError("a student is named twice")
        return records

    def student_ids(self) -> list[str]:
        return [s.siswa_id for s in self.siswa] + [p.peserta_didik_id for p in self.peserta_didik]


class ReadProgress(BaseModel):
    """What a run's plan has read so far from one upstream, before its units exist."""

    source: str = Field(..., description="`emis` or `dapodik` (student records from the gateway's feed), `kip` "
                        "(KIP issuances), `registry` (changes applied to the registry replica)")
    records: int = Field(..., description="Records read so far")
    done: bool = Field(..., description="This read has ended")
    updated_at: datetime
    ranges: int | None = Field(None, description="Read as this many ranges at once, each a job any worker takes (a "
                               "full read of a feed, the registry replica's first load); null: one stream")
    ranges_done: int | None = Field(None, description="Of ``ranges``, how many have been read to their end")


class SyncRun(BaseModel):
    id: str
    status: RunStatus
    trigger: str = Field(..., description="Who started it: `person:<subject>` (an admin's token), or "
                         "the bare client name for runs started before people had identities")
    systems: list[SourceSystem]
    student_ids: list[str] | None = Field(None, description="Set for an on-demand check of named students")
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    students_read: int = Field(0, description="Students decided in this run (the whole working set of its systems)")
    students_from_feed: int = Field(0, description="Student records read from the gateways in this run (changed "
                                    "since the last run, or all of them in a full run)")
    students_removed: int = Field(0, description="Students that left the working set (deleted, not validated)")
    full: bool = Field(False, description="Every student was read again (asked for, or no earlier run)")
    outcomes: dict[str, int] = Field(default_factory=dict, description="Students per outcome code")
    values_written: int = 0
    values_unchanged: int = 0
    provenance_records: int = 0
    kip_linked: int = 0
    timings: dict[str, float] = Field(default_factory=dict, description="Seconds per phase")
    errors: list[str] = Field(default_factory=list)
    stale: int = Field(0, description="Students a gateway answered STALE (it holds a newer fact): read again by "
                       "the next run, not a failure")
    periode: str | None = Field(None, description="The PKH period the run verifies education for (null: none)")
    verifications: dict[str, int] = Field(
        default_factory=dict, description="Education verifications of PKH children by the registry's answer "
        "(APPLIED, UNCHANGED, STALE, NOT_FOUND, REJECTED) and not_sent_unchanged (facts as already sent), NO_SCHOOL "
        "(enrolled at a school the hub does not know)")
    reading: list[ReadProgress] | None = Field(
        None, description="While the run's plan reads (before its units exist): what it has read so far from each "
        "upstream. A first national sync reads for hours before it decides anyone")
    progress: RunProgress | None = Field(None, description="Work units of the run (planned once its students are "
                                         "read): done, failed, waiting, running, students decided so far")
    at_risk: RunRiskCounts | None = Field(
        None, description="The period's families-at-risk report as this run built it, its last stage (null: not "
        "built; GET /api/v1/families-at-risk/summary)")


class RiskCounts(BaseModel):
    families: int = Field(0, description="Families with at least one reason that is an error")
    families_component_ends: int = Field(0, description="Families listed only because a child left school or "
                                         "graduated (the education component ends: not an error)")
    by_reason: dict[str, int] = Field(default_factory=dict, description="Children / school records per reason")


class RunRiskCounts(RiskCounts):
    by_province: dict[str, RiskCounts] = Field(default_factory=dict, description="By the family's province")


class UnitKind(StrEnum):
    DECIDE = "decide"  # the students of one system in one region: decided, pushed, recorded
    VERIFY = "verify"  # education verifications of PKH children, by the province of their NIK


class UnitProgress(BaseModel):
    id: str
    kind: UnitKind = UnitKind.DECIDE
    system: SourceSystem | None = Field(..., description="The students' system (null for a verification unit)")
    region: str = Field(..., description="Province (2 digits) or kabupaten (4 digits) of the students' schools; for "
                        "a verification unit the 2-digit province prefix of the children's NIKs")
    status: UnitStatus
    attempts: int
    students: int
    outcomes: dict[str, int] = Field(default_factory=dict)
    values_written: int = 0
    stale: int = 0
    errors: list[str] = Field(default_factory=list)
    started_at: datetime | None = None
    finished_at: datetime | None = None


class RunProgress(BaseModel):
    units_total: int
    units_done: int
    units_failed: int
    units_waiting: int
    units_running: int
    units_cancelled: int = 0
    students_done: int = Field(..., description="Students decided by the units done so far")
    verification_units_total: int = Field(0, description="Verification units (planned once every deciding unit "
                                          "has ended)")
    verification_units_done: int = 0
    children_verified: int = Field(0, description="PKH children whose verification the ended units settled")


class StudentOutcome(BaseModel):
    sync_run_id: str
    system: SourceSystem
    student_id: str
    outcome: Outcome
    detail: str | None
    matched_by: MatchKey
    no_kk: str | None = Field(None, description="The family's KK number, always masked (the full number is shown "
                              "only to a reviewer, in a review case, and that read is logged: docs/security.md)")


class CheckResponse(BaseModel):
    """A check's answer: each student's outcome (``sync_run_id`` holds the check's id) and the result items
    that bring the records to it (only values that differ, with their provenance, already recorded at the
    hub): the gateway applies them in its own transaction, as it applies a sync run's batch."""

    check_id: str
    observed_seq: int = Field(..., description="The registry sequence the replica stood at when decided")
    results: list[StudentOutcome]
    items: list[HubResultItem] = Field(default_factory=list)


class ProvenanceRecord(BaseModel):
    id: str
    sync_run_id: str
    target_system: SourceSystem
    target_record: str
    field: str
    value: str | bool | int | None
    source_system: str
    source_record: str
    source_version: int
    observed_seq: int
    retrieved_at: datetime
    matched_by: MatchKey
    written_at: datetime
    record_hash: str | None = Field(None, description="Its record hash in the hub's provenance ledger")
    ledger_seq: int | None = Field(None, description="Its position in the ledger (null: not ledgered)")


class VerificationStatus(StrEnum):
    PENDING = "PENDING"  # written, sent or about to be, answer not recorded yet
    APPLIED = "APPLIED"
    UNCHANGED = "UNCHANGED"
    STALE = "STALE"  # the registry holds newer facts for the child
    NOT_FOUND = "NOT_FOUND"  # the registry has no such member
    REJECTED = "REJECTED"  # the registry refused the item (the reason is in ``detail``)


class EducationVerification(BaseModel):
    """An education verification the hub sent Kemensos for one PKH child and period, with its provenance."""

    provenance_id: str = Field(..., description="What the registry keeps as the hub's provenance of these facts")
    periode: str
    nik_anak: str = Field(..., description="The child's NIK, masked")
    no_kk: str | None = Field(None, description="The family's KK number, masked")
    enrolled: bool
    active: bool
    months_below_85: list[int] = Field(..., description="Months of the period under 85 % attendance")
    source_system: SourceSystem = Field(..., description="The gateway record the facts were read from ...")
    source_record: str
    source_version: int = Field(..., description="... and its version (its last change, microseconds since 1970)")
    school: str = Field(..., description="NSM (EMIS) or sekolah_id (Dapodik) of that record")
    region: str = Field(..., description="The school's kode_wilayah")
    other_records: list[dict[str, str]] = Field(default_factory=list, description="The child's other records: "
                                                "system, student_id, state in the period")
    status: VerificationStatus
    detail: str | None = None
    version: int
    observed_at: datetime
    sync_run_id: str
    decided_at: datetime
    sent_at: datetime | None = None
