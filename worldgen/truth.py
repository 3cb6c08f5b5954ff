"""Ground truth: for every education-side student record, what the hub should find."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from worldgen.errors import ErrorCode

GROUND_TRUTH_FILE = "ground_truth.jsonl"


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


def read_ground_truth(path: Path | str) -> list[GroundTruth]:
    """Read ``ground_truth.jsonl`` (``path`` may be the file or the world directory)."""
    p = Path(path)
    if p.is_dir():
        p = p / GROUND_TRUTH_FILE
    with p.open(encoding="utf-8") as fh:
        return [GroundTruth.model_validate(json.loads(line)) for line in fh if line.strip()]
