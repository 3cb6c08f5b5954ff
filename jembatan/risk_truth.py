"""The families-at-risk report checked against a world's ground truth, with the report's own rules.

From the world's files (the registry: ``kemensos/keluarga.jsonl``, ``anggota_keluarga.jsonl``, ``pkh.jsonl``; the
school records as typed; ``ground_truth.jsonl``) it computes, for every PKH family (status AKTIF) and every child of
it (relation ANAK or CUCU, ``services.sync_hub.risk.service``'s school-age rule), what the world planted:

* ``NO_SCHOOL_RECORD`` — a school-age child with no school record at all (not enrolled);
* ``LEFT_SCHOOL`` — every record of the child active in the period dropped out during it, and no other record
  is listed as enrolled by its gateway;
* ``ATTENDANCE_BELOW_85`` — an active record with a month under 85 % (a planted duplicate record is not the
  child's schooling: its attendance is not counted);
* a *link problem* — a record carrying an error that can stop it linking the child (a wrong or missing NIK,
  a name or birth-date variant): the hub may still link it by a parent's NIK or the KK number, so this is counted
  (reported with a link reason, or linked anyway), not scored as found / missed.

A family is *clean* when each of its school-age children has a record, and each record of its children has no
such error, no adversarial trait (twin, homonym...), no month under 85 % and no dropping out: the report must list
none of them. Report rows are matched to the world by their school record's id, or (a child with no record) by
the masked KK number, family region and masked NIK the report shows.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from services.sync_hub.risk.service import CHILD_RELATIONS, LINK_REASONS, school_age_bounds
from services.sync_hub.verification.service import Period
from shared.contracts.risk import FamilyAtRisk
from shared.nik import mask
from worldgen.truth import GroundTruth, read_ground_truth

LINK_ERRORS = frozenset({"child_nik_missing", "kk_as_nik", "placeholder_nik", "nik_swapped_digits", "nik_typo",
                         "wrong_sex_digit", "name_variant", "birth_date_off_by_one", "birth_date_day_month_swapped"})
SCORED = ("NO_SCHOOL_RECORD", "ATTENDANCE_BELOW_85", "LEFT_SCHOOL")


@dataclass
class Tally:
    planted: int = 0
    found: int = 0  # reported with this reason
    other_reason: int = 0  # reported, with another reason only
    missed: int = 0


@dataclass
class RiskEvaluation:
    periode: str
    pkh_families: int = 0
    planted_families: int = 0  # a scored reason planted
    found_families: int = 0  # of those, listed by the report
    clean_families: int = 0
    clean_reported: int = 0  # must be 0
    reported_families: int = 0
    reasons: dict[str, Tally] = field(default_factory=lambda: {r: Tally() for r in SCORED})
    link_planted: int = 0  # children whose records carry a link error
    link_reported: int = 0  # reported with a link reason
    link_linked_anyway: int = 0  # not reported with a link reason (the hub linked the record)
    unmatched_rows: int = 0  # report rows the world could not place
    # reported NO_SCHOOL_RECORD although the world has a record: one the hub never received (on main, a record
    # Dapodik holds back is not in its feed)
    record_not_received: int = 0
    examples: list[str] = field(default_factory=list)
    reported_reasons: Counter[str] = field(default_factory=Counter)


def _jsonl(path: Path) -> Iterable[dict]:  # type: ignore[type-arg]
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def _typed_niks(world: Path) -> tuple[dict[tuple[str, str], str | None], set[tuple[str, str]]]:
    """The child's NIK as each record types it, and the records their gateway lists as enrolled (not marked as
    left, EMIS ``status_aktif``)."""
    out: dict[tuple[str, str], str | None] = {}
    listed: set[tuple[str, str]] = set()
    left = {r["siswa_id"] for r in _jsonl(world / "emis" / "siswa_keluar.jsonl")}
    for r in _jsonl(world / "emis" / "siswa.jsonl"):
        out[("emis", r["siswa_id"])] = r.get("nik")
        if r.get("status_aktif", True) and r["siswa_id"] not in left:
            listed.add(("emis", r["siswa_id"]))
    left = {r["peserta_didik_id"] for r in _jsonl(world / "dapodik" / "registrasi_keluar.jsonl")}
    for r in _jsonl(world / "dapodik" / "peserta_didik.jsonl"):
        out[("dapodik", r["peserta_didik_id"])] = r.get("nik")
        if r["peserta_didik_id"] not in left:
            listed.add(("dapodik", r["peserta_didik_id"]))
    return out, listed


def _age(dob: date, on: date) -> int:
    return on.year - dob.year - ((dob.month, dob.day) > (on.month, on.day))


def _below(t: GroundTruth) -> bool:
    return t.dropped_out_on is None and any(not m.meets_85 for m in t.attendance)


def evaluate_report(world: Path, periode: str, report: Iterable[FamilyAtRisk]) -> RiskEvaluation:
    period = Period.parse(periode)
    after, by = school_age_bounds(period)
    pkh = {r["no_kk"] for r in _jsonl(world / "kemensos" / "pkh.jsonl") if r["status"] == "AKTIF"}
    region = {r["no_kk"]: r["kode_wilayah"] for r in _jsonl(world / "kemensos" / "keluarga.jsonl")
              if r["no_kk"] in pkh}
    children: dict[str, list[str]] = defaultdict(list)  # no_kk -> child NIKs
    school_age: set[str] = set()
    born: dict[str, date] = {}
    for a in _jsonl(world / "kemensos" / "anggota_keluarga.jsonl"):
        if a["no_kk"] in pkh and a["hubungan_keluarga"] in CHILD_RELATIONS:
            children[a["no_kk"]].append(a["nik"])
            born[a["nik"]] = date.fromisoformat(a["tanggal_lahir"])
            if after < date.fromisoformat(a["tanggal_lahir"]) <= by:
                school_age.add(a["nik"])
    truth = read_ground_truth(world)
    records: dict[str, list[GroundTruth]] = defaultdict(list)
    for t in truth:
        records[t.true_nik].append(t)
    typed, listed = _typed_niks(world)
    family_of = {nik: kk for kk, niks in children.items() for nik in niks}
    by_record = {(t.system, t.student_id): t for t in truth}

    # what the world planted, per child
    planted: dict[str, set[str]] = defaultdict(set)  # child NIK -> scored reasons
    link: set[str] = set()
    clean: set[str] = set()
    for kk, niks in children.items():
        dirty = False
        for nik in niks:
            recs = records.get(nik, [])
            # a planted duplicate (``duplicate_record``) is a copy of the enrolment, not the child's schooling
            own = [t for t in recs if "duplicate_record" not in t.errors] or recs
            active = [t for t in own if t.attendance]
            if not recs:
                if nik in school_age:
                    planted[nik].add("NO_SCHOOL_RECORD")
                    dirty = True
                continue
            # left: every record active in the period dropped out, and the gateways list no other as enrolled
            # (a transfer's record left behind in Dapodik stays listed: the hub reads the child as enrolled there)
            still = [t for t in own if t.dropped_out_on is None and (t.system, t.student_id) in listed]
            if active and all(t.dropped_out_on is not None for t in active) and not still:
                planted[nik].add("LEFT_SCHOOL")
            elif any(_below(t) for t in active):
                planted[nik].add("ATTENDANCE_BELOW_85")
            if any(set(t.errors) & LINK_ERRORS or typed.get((t.system, t.student_id)) != t.true_nik for t in recs):
                link.add(nik)
            if planted[nik] or nik in link or any(t.adversarial for t in recs):
                dirty = True
        if not dirty:
            clean.add(kk)

    # what the report says, per child
    by_mask: dict[tuple[str, str, str, int], str] = {}
    for kk, niks in children.items():
        for nik in niks:
            by_mask[(mask(kk), region[kk], mask(nik), _age(born[nik], period.start))] = nik
    said: dict[str, set[str]] = defaultdict(set)  # child NIK -> reasons reported
    reported: set[str] = set()
    ev = RiskEvaluation(periode, pkh_families=len(children), clean_families=len(clean))
    for fam in report:
        for row in fam.children:
            ev.reported_reasons[row.reason.value] += 1
            nik = None
            if row.student_id and row.system:
                t = by_record.get((row.system.value, row.student_id))
                nik = t.true_nik if t else None
            elif row.nik:
                nik = by_mask.get((fam.no_kk, fam.kode_wilayah, row.nik, row.age if row.age is not None else -1))
            if nik is None:
                ev.unmatched_rows += 1
                continue
            said[nik].add(row.reason.value)
            if row.reason.value == "NO_SCHOOL_RECORD" and records.get(nik):
                ev.record_not_received += 1
            if nik in family_of:
                reported.add(family_of[nik])
            if family_of.get(nik) in clean and len(ev.examples) < 10:
                ev.examples.append(f"clean family reported: {fam.no_kk} {row.reason.value} ({row.detail})")
    ev.reported_families = len(reported)
    for nik, reasons in planted.items():
        for reason in reasons:
            tally = ev.reasons[reason]
            tally.planted += 1
            if reason in said.get(nik, set()):
                tally.found += 1
            elif said.get(nik):
                tally.other_reason += 1
            else:
                tally.missed += 1
    planted_families = {family_of[n] for n, r in planted.items() if r - {"LEFT_SCHOOL"}}
    ev.planted_families = len(planted_families)
    ev.found_families = len(planted_families & reported)
    ev.clean_reported = len(clean & reported)
    ev.link_planted = len(link)
    ev.link_reported = sum(1 for n in link if said.get(n, set()) & LINK_REASONS)
    ev.link_linked_anyway = ev.link_planted - ev.link_reported
    return ev
