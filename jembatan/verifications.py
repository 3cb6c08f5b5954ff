"""Check the education verifications the registry holds against a world's ground truth.

For every child of a PKH family the world enrolled (a record with attendance in the period), the registry
should hold the hub's verification for the period: enrolled, active unless the child dropped out, from one of
the child's active records, with that record's monthly attendance. A child whose records the hub could not link
(a wrong NIK, ...) has none: it is counted apart (the families-at-risk report names it), not as an error.
Used by ``jembatan demo`` and the end-to-end tests as the oracle.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from shared.clients import KemensosClient
from shared.contracts.kemensos import VerifikasiPendidikanTercatat
from worldgen.truth import GroundTruth, read_ground_truth


@dataclass
class VerificationCheck:
    periode: str
    children: int = 0  # PKH children the world enrolled in the period
    verified: int = 0  # of which the registry holds a verification of the hub for the period
    agreeing: int = 0  # ... that agrees with the truth in every fact
    disagreeing: int = 0
    dropped_out: int = 0  # children whose only active record dropped out during the period
    dropped_out_reported: int = 0  # ... reported enrolled and not active
    not_verified: int = 0  # no verification (their records did not link): see the families-at-risk report
    disagreements: Counter[str] = field(default_factory=Counter)  # fact -> how many
    examples: list[str] = field(default_factory=list)


def expected_children(truth: list[GroundTruth]) -> dict[str, list[GroundTruth]]:
    """true NIK -> the child's active records (with attendance in the period), for children of PKH families."""
    out: dict[str, list[GroundTruth]] = {}
    for t in truth:
        if t.in_registry and t.pkh_active and t.attendance:
            out.setdefault(t.true_nik, []).append(t)
    return out


def _disagreement(v: VerifikasiPendidikanTercatat, records: list[GroundTruth]) -> str | None:
    chosen = next((r for r in records if r.student_id == v.provenance.source_record
                   and r.system.upper() == (v.provenance.source_system or "")), None)
    if chosen is None:
        return "source_record"
    if not v.enrolled:
        return "enrolled"
    if v.active != (chosen.dropped_out_on is None):
        return "active"
    if (v.sumber or "").lower() != chosen.system:
        return "sumber"
    want = [(m.month, m.effective_days, m.alpa, m.izin, m.sakit) for m in chosen.attendance]
    got = [(k.bulan, k.hari_efektif, k.alpa, k.izin, k.sakit) for k in v.kehadiran]
    if want != got:
        return "kehadiran"
    return None


def check(truth: list[GroundTruth], kemensos: KemensosClient, periode: str) -> VerificationCheck:
    out = VerificationCheck(periode)
    for nik, records in sorted(expected_children(truth).items()):
        out.children += 1
        dropped = all(r.dropped_out_on is not None for r in records)
        out.dropped_out += dropped
        held = kemensos.get_education_verification(nik)
        current = next((v for v in held.current if v.periode == periode and v.provenance.provenance_id), None)
        if current is None:
            out.not_verified += 1
            continue
        out.verified += 1
        wrong = _disagreement(current, records)
        if wrong is None:
            out.agreeing += 1
            out.dropped_out_reported += dropped and current.enrolled and not current.active
            continue
        out.disagreeing += 1
        out.disagreements[wrong] += 1
        if len(out.examples) < 10:
            out.examples.append(f"{current.provenance.source_system} {current.provenance.source_record}: {wrong}")
    return out


def check_world(world_dir: Path, kemensos: KemensosClient, periode: str) -> VerificationCheck:
    return check(read_ground_truth(world_dir / "ground_truth.jsonl"), kemensos, periode)
