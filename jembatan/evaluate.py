"""Check what the hub wrote into the gateways against a world's ground truth.

Used by ``jembatan demo`` to print an honest accuracy line and by the end-to-end tests as the oracle.
A value counts as *written* only when the gateway shows hub provenance for it.

Every student record of both gateways is observed through the gateways' own paged lists (EMIS
``/api/v1/siswa``, Dapodik ``/api/v1/peserta-didik``: every active record, held back by validation or not), not
through the hub's feeds, so a record the hub never reads is counted as a record without an outcome instead of
being skipped (and reading moves no feed position).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from shared.clients import DapodikClient, EmisClient
from shared.contracts.common import FieldProvenance
from shared.contracts.dapodik import StatusValidasi
from shared.nik import normalise
from worldgen.truth import GroundTruth, read_ground_truth


@dataclass(frozen=True, slots=True)
class Observed:
    system: str
    student_id: str
    nik: str | None
    nik_ibu: str | None
    nik_ayah: str | None
    outcome: str | None
    pkh: bool | None  # the PKH value the hub wrote (None: none written)
    no_kip: str | None  # the KIP number the hub wrote
    provenance: dict[str, FieldProvenance]
    held_back: bool = False  # Dapodik validation holds the record back (an INVALID finding)
    no_kk: str | None = None


@dataclass
class Evaluation:
    students: int = 0
    with_correct_key: int = 0  # own or a parent's NIK correct and the family in the registry
    correct_key_right: int = 0
    correct_key_wrong: int = 0
    correct_key_unwritten: int = 0
    pkh_written: int = 0
    pkh_wrong: int = 0  # any written PKH value that contradicts the truth
    kip_truth: int = 0
    kip_right: int = 0
    kip_wrong: int = 0
    written_without_provenance: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    outcomes_by_system: dict[str, Counter[str]] = field(default_factory=dict)
    not_listed: int = 0  # ground-truth records their gateway does not list (not counted in ``students``)
    without_outcome: int = 0  # records their gateway lists without an outcome (after a run: must be 0)
    without_outcome_examples: list[str] = field(default_factory=list)
    held_back: Counter[str] = field(default_factory=Counter)  # outcomes of records Dapodik holds back
    held_back_linkable: int = 0  # held back, the family in the registry and the true KK number on the record
    held_back_linked_right: int = 0  # of those: given the true PKH status
    wrong_examples: list[str] = field(default_factory=list)

    @property
    def coverage(self) -> float:
        return self.correct_key_right / self.with_correct_key if self.with_correct_key else 1.0


def observe(emis: EmisClient, dapodik: DapodikClient) -> dict[tuple[str, str], Observed]:
    """Every student record of both gateways, through their paged lists (not the hub's feeds)."""
    out: dict[tuple[str, str], Observed] = {}
    for s in emis.iter_students(1000):
        prov = {p.field: p for p in s.provenance}
        out[("emis", s.siswa_id)] = Observed(
            "emis", s.siswa_id, s.nik, s.nik_ibu, s.nik_ayah, s.pkh.status_pkh.value if s.pkh.status_pkh else None,
            s.pkh.penerima_pkh if "penerima_pkh" in prov else None, None, prov, no_kk=s.no_kk)
    for p in dapodik.iter_peserta_didik(1000):
        prov = {x.field: x for x in p.provenance}
        out[("dapodik", p.peserta_didik_id)] = Observed(
            "dapodik", p.peserta_didik_id, p.nik, p.nik_ibu, p.nik_ayah,
            p.status_padan.value if p.status_padan else None,
            p.penerima_kps if "penerima_kps" in prov else None, p.no_kip if "no_kip" in prov else None, prov,
            held_back=p.status_validasi == StatusValidasi.INVALID, no_kk=p.no_kk)
    return out


def _eq(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and normalise(a) == normalise(b)


def evaluate(truth: list[GroundTruth], observed: dict[tuple[str, str], Observed]) -> Evaluation:
    ev = Evaluation()
    for t in truth:
        o = observed.get((t.system, t.student_id))
        if o is None:
            ev.not_listed += 1
            continue
        ev.students += 1
        ev.outcomes[o.outcome or "NONE"] += 1
        ev.outcomes_by_system.setdefault(t.system, Counter())[o.outcome or "NONE"] += 1
        if o.outcome is None:
            ev.without_outcome += 1
            if len(ev.without_outcome_examples) < 10:
                ev.without_outcome_examples.append(f"{t.system}/{t.student_id} (errors {','.join(t.errors) or 'none'}"
                                                   f"{'; held back' if o.held_back else ''})")
        expected = t.pkh_active if t.in_registry else False
        if o.held_back:
            ev.held_back[o.outcome or "NONE"] += 1
            if t.in_registry and (_eq(o.no_kk, t.true_no_kk) or _eq(o.no_kk, t.true_no_kk_lama)):
                ev.held_back_linkable += 1
                ev.held_back_linked_right += o.pkh is not None and o.pkh == expected
        if o.pkh is not None:
            ev.pkh_written += 1
            if o.pkh != expected:
                ev.pkh_wrong += 1
                if len(ev.wrong_examples) < 10:
                    ev.wrong_examples.append(f"{t.system}/{t.student_id}: wrote {o.pkh}, truth {expected} "
                                             f"({o.outcome}; errors {','.join(t.errors) or 'none'})")
        correct_key = t.in_registry and (
            _eq(o.nik, t.true_nik) or _eq(o.nik_ibu, t.true_nik_ibu) or _eq(o.nik_ayah, t.true_nik_ayah))
        if correct_key:
            ev.with_correct_key += 1
            if o.pkh is None:
                ev.correct_key_unwritten += 1
            elif o.pkh == expected:
                ev.correct_key_right += 1
            else:
                ev.correct_key_wrong += 1
        if t.system == "dapodik" and t.kip_no:
            ev.kip_truth += 1
        if o.no_kip is not None:
            if o.no_kip == t.kip_no:
                ev.kip_right += 1
            else:
                ev.kip_wrong += 1
        if o.outcome is not None and not o.provenance:
            ev.written_without_provenance += 1
    return ev


def evaluate_world(world_dir: Path, emis: EmisClient, dapodik: DapodikClient) -> Evaluation:
    return evaluate(read_ground_truth(world_dir / "ground_truth.jsonl"), observe(emis, dapodik))
