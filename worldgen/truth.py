"""Ground truth: for every education-side student record, what the hub should find."""

from __future__ import annotations

import json
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from worldgen.errors import ErrorCode

GROUND_TRUTH_FILE = "ground_truth.jsonl"


class Adversarial(StrEnum):
    """Records a matcher must not link to the wrong person although the data invites it."""

    TWIN = "twin"  # a twin: same mother, same birth date, (usually) NIKs one serial apart
    FATHER_SON_SAME_NAME = "father_son_same_name"  # the child carries his father's name
    SIBLING_SHARED_PARENT = "sibling_shared_parent"  # a sibling with the same parents' NIKs is enrolled too
    HOMONYM = "homonym"  # another mother's child in the same kecamatan has the same name and birth date


class MonthAttendance(BaseModel):
    """One month of a record's attendance in the PKH period (``worldgen.attendance``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    year: int
    month: int = Field(..., ge=1, le=12)
    effective_days: int = Field(..., description="hari efektif of the institution that month")
    alpa: int
    izin: int
    sakit: int
    present: int = Field(..., description="effective_days - alpa - izin - sakit")
    meets_85: bool = Field(..., description="Present on at least 85% of the effective days (PKH commitment)")


class GroundTruth(BaseModel):
    """One line of ``ground_truth.jsonl``: one student record of EMIS or Dapodik."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    system: Literal["emis", "dapodik"]
    student_id: str = Field(..., description="siswa_id (EMIS) or peserta_didik_id (Dapodik)")
    true_nik: str = Field(..., pattern=r"^\d{16}$", description="The child's real NIK")
    in_registry: bool = Field(..., description="The child's family is in the Kemensos registry")
    true_no_kk: str | None = Field(None, description="The registry family's current no_kk; null when absent")
    true_nik_ibu: str | None = Field(None, description="Mother's real NIK; null when the child has no mother "
                                     "in the family")
    true_nik_ayah: str | None = Field(None, description="Father's real NIK; null when the child has no father "
                                      "in the family")
    pkh_active: bool = Field(..., description="The family's PKH status is AKTIF in pkh.jsonl")
    kip_no: str | None = Field(None, description="The KIP number truly issued to this child (kip.jsonl)")
    errors: list[ErrorCode] = Field(default_factory=list, description="Errors applied to this record")
    # added in generator 2.0; optional so that older files still read
    true_nik_wali: str | None = Field(None, description="The guardian's real NIK; null when no guardian")
    true_no_kk_lama: str | None = Field(None, description="The family's KK number before it was reissued "
                                        "(kemensos/kk_history.jsonl); null when it never was")
    adversarial: list[Adversarial] = Field(default_factory=list, description="Why this record is easy to "
                                           "link to the wrong person")
    confusable_niks: list[str] = Field(default_factory=list, description="Real NIKs of the people this "
                                       "record must NOT be linked to as the child (twin, father, homonym, "
                                       "enrolled siblings)")
    # added in generator 2.1
    attendance: list[MonthAttendance] = Field(
        default_factory=list, description="Monthly attendance in the PKH period of the reference date, oldest "
        "first; empty for a record that is not active (a transfer's record left behind)")
    dropped_out_on: date | None = Field(None, description="The record's student dropped out on this day of the "
                                        "period (no attendance after that month); null otherwise")


def read_ground_truth(path: Path | str) -> list[GroundTruth]:
    """Read ``ground_truth.jsonl`` (``path`` may be the file or the world directory)."""
    p = Path(path)
    if p.is_dir():
        p = p / GROUND_TRUTH_FILE
    with p.open(encoding="utf-8") as fh:
        return [GroundTruth.model_validate(json.loads(line)) for line in fh if line.strip()]
