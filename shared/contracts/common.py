"""Types shared by several contracts."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pydantic_core import PydanticCustomError

T = TypeVar("T")

Digits16 = Annotated[str, StringConstraints(pattern=r"^\d{16}$")]
# Values as education systems hold them: possibly empty, possibly malformed; never trusted.
RawId = Annotated[str | None, StringConstraints(max_length=64)]
# The largest integer both databases store (PostgreSQL's BIGINT; SQLite's INTEGER is 8 bytes too): a version or a
# sequence number received and stored is held to it, so a larger one is a 4xx, not a driver's overflow (a 500).
MAX_BIGINT = 2**63 - 1


def _within_bigint(value: int) -> int:
    if value > MAX_BIGINT:
        raise PydanticCustomError("less_than_equal", "Input should be less than or equal to {le}", {"le": MAX_BIGINT})
    return value


# A non-negative integer a database stores: documented as OpenAPI's ``format: int64`` rather than as ``maximum``
# (FastAPI writes a schema's bounds as floats, and 2^63 - 1 is not one), refused past it as ``le`` would refuse it.
StoredInt = Annotated[int, Field(ge=0, json_schema_extra={"format": "int64"}), AfterValidator(_within_bigint)]


class Strict(BaseModel):
    """Inbound models reject unknown fields so a typo is a 422, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(None, description="Opaque; pass back as `cursor` for the next page")


class FeedEnd(BaseModel):
    """Where a gateway's change feed for the hub ends now, and how many records it holds: a reader of the whole feed
    in id ranges at once (``id_after`` / ``id_upto``) resumes from here afterwards."""

    resume_cursor: str = Field(..., description="Pass as `since` to read what changes from now on")
    records: int = Field(..., ge=0, description="Records in the feed now")


class FeedRead(Strict):
    """A reader of the whole feed as id ranges says it holds every range: the feed up to ``resume_cursor`` (the
    position ``GET /hub/feed-end`` gave before the ranges were read) is read."""

    resume_cursor: str = Field(..., min_length=1, max_length=200,
                               description="The `resume_cursor` of `GET /api/v1/hub/feed-end`, read before the ranges")


class FeedReadAnswer(BaseModel):
    """What a ``FeedRead`` moved."""

    positions_moved: int = Field(..., ge=0, description="Schools whose read position moved up to the position given")


class FileFormat(StrEnum):
    """A spreadsheet's format (``shared.spreadsheet``)."""

    CSV = "csv"
    XLSX = "xlsx"


class JenisKelamin(StrEnum):
    L = "L"
    P = "P"


class Outcome(StrEnum):
    """Why a student has the PKH value it has. Every student ends a sync run with one."""

    PKH_RECIPIENT = "PKH_RECIPIENT"  # family found by a verified key, PKH active
    NOT_PKH_RECIPIENT = "NOT_PKH_RECIPIENT"  # family found, not (or no longer) in PKH
    NOT_REGISTERED = "NOT_REGISTERED"  # valid NIK(s), none in the registry
    NIK_INVALID = "NIK_INVALID"  # every NIK present breaks a NIK rule (rule named in detail)
    NIK_MISMATCH = "NIK_MISMATCH"  # NIK found, but the identity there disagrees with the student's
    NO_NIK = "NO_NIK"  # neither the child nor any parent has a NIK
    IN_REVIEW = "IN_REVIEW"  # keys point at different families: a person decides
    LINKED_BY_FALLBACK = "LINKED_BY_FALLBACK"  # no usable NIK; linked by name, birth date, mother, region
    PENDING = "PENDING"  # registry unreachable: queued, answered later


class MatchKey(StrEnum):
    """Which key decided a student's family."""

    NIK = "nik"  # the child's own NIK
    NIK_IBU = "nik_ibu"
    NIK_AYAH = "nik_ayah"
    NIK_WALI = "nik_wali"
    NO_KK = "no_kk"  # the KK number (current or former), verified by a member
    FALLBACK = "fallback"  # probabilistic fallback (no usable key)
    KIP_IDENTITY = "kip_identity"  # a KIP card without a usable NIK, linked by name, birth date, mother, region
    REVIEW = "review"  # a reviewer's decision
    NONE = "none"


class Provenance(BaseModel):
    """Where a value written by the hub came from. Stored at the hub and shown next to the value."""

    provenance_id: str = Field(..., description="The hub's id of this provenance record")
    sync_run_id: str
    source_system: str = Field(..., examples=["kemensos.dtsen"])
    source_record: str = Field(..., examples=["keluarga/3201010101010001"])
    source_version: int = Field(..., ge=0, description="Version of the source record when read")
    observed_seq: int = Field(..., ge=0, description="Registry change sequence at retrieval time; a value "
                              "observed at a lower sequence never overwrites one observed at a higher one")
    retrieved_at: datetime
    matched_by: MatchKey
    record_hashes: dict[str, str] = Field(default_factory=dict, description=(
        "Field name -> the hex record hash of the value in the hub's provenance ledger "
        "(`shared.ledger_hash.field_record`): the gateway keeps it with the value, so anyone can check that the "
        "value it holds is the one the hub wrote and ledgered (docs/ledger.md). Empty from a hub without a ledger."))


class FieldProvenance(Provenance):
    field: str
    value: str | bool | int | None
    written_at: datetime
    record_hash: str | None = Field(None, description="The value's record hash in the hub's ledger, as received")


class ResultStatus(StrEnum):
    APPLIED = "APPLIED"  # at least one value changed
    UNCHANGED = "UNCHANGED"  # every value already held (a repeated batch)
    STALE = "STALE"  # observed at an older registry sequence than what the record holds
    NOT_FOUND = "NOT_FOUND"
    REJECTED = "REJECTED"


class HubResultItem(Strict):
    """One student's result from the hub; applied all-or-nothing."""

    student_id: str = Field(..., max_length=64, description="siswa_id (EMIS) or peserta_didik_id (Dapodik)")
    outcome: Outcome | None = Field(None, description="Set on the PKH item; a KIP-only item leaves it out")
    outcome_detail: str | None = Field(None, max_length=300)
    values: dict[str, str | bool | int | None] = Field(
        default_factory=dict, description="Field name (the gateway's own) -> value")
    provenance: Provenance


class HubResultBatch(Strict):
    sync_run_id: str = Field(..., max_length=64)
    items: list[HubResultItem] = Field(..., min_length=1, max_length=1000)


class HubResultItemStatus(BaseModel):
    student_id: str
    status: ResultStatus
    fields_written: list[str] = []
    detail: str | None = None
    held: dict[str, str] = Field(default_factory=dict, description=(
        "Field name -> the `provenance_id` of the provenance the gateway holds for that field after this item: "
        "for every field the item names (its `values`, and the outcome and its detail when the item carries an "
        "outcome: EMIS `status_pkh`/`keterangan_pkh`, Dapodik `status_padan`/`keterangan_padan`). A field "
        "written by this item (`fields_written`) names the item's own `provenance.provenance_id`; a field that "
        "already held the value names the provenance it was written with earlier, which may be a provenance "
        "the hub sent before and lost (it crashed after the gateway applied the batch): the hub reconciles "
        "an UNCHANGED item by these ids. A field is absent when its value carries no provenance from the hub "
        "(never written by the hub, or last written by a Dapodik KIP SK). STALE: the provenance of the newer "
        "values the record holds. NOT_FOUND and REJECTED: empty."))


class HubResultBatchResponse(BaseModel):
    results: list[HubResultItemStatus]

    def count(self, status: ResultStatus) -> int:
        return sum(1 for r in self.results if r.status is status)


class Health(BaseModel):
    status: str = "ok"
    service: str
    version: str


class Readiness(BaseModel):
    """``/ready``: whether the service can answer, and each check's result ("ok" or why not)."""

    status: str = Field(description="ready | not_ready")
    service: str
    checks: dict[str, str] = Field(description="check -> ok, or what is wrong (database, replica...)")


class KehadiranImportReport(BaseModel):
    """What an attendance import of one school and PKH period did (both gateways; VERKOM CSV or the gateway's
    own CSV/XLSX). A file with any bad row changes nothing: the answer is then a 422 whose ``errors`` name each
    problem as ``rows[<row>].<column>`` with its rule."""

    model_config = ConfigDict(extra="ignore")

    format: str = Field(..., description="verkom, csv or xlsx")
    tahun: int
    tahap: int = Field(..., description="PKH stage 1-4 (quarter)")
    rows: int = Field(..., description="Data rows read")
    inserted: int = Field(..., description="Months stored that were not held before")
    updated: int = Field(..., description="Months held before whose counts changed")
    unchanged: int = Field(..., description="Months the file gives as they are already held")
    students_changed: int = Field(..., description="Students whose attendance changed: they move in the hub's feed")
    dry_run: bool = False
