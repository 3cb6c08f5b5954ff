"""The matcher as the work units and checks use it: students in, one explained decision per student out.

1. Deterministic pass (``deterministic.link``): every key, every hit verified against the identity.
2. Fallback (``fallback``) for students no usable key linked: a Fellegi-Sunter model trained on the run's
   own students (u from random pairs, the prior from the share of students the deterministic pass linked,
   m by EM), blocked by kabupaten and birth year. Auto-links become
   ``LINKED_BY_FALLBACK``; the band in between becomes ``IN_REVIEW`` with the candidates.
3. Reviewers' decisions (``review``) win over both while neither record changed: a decided student is
   not asked again until its record or the family's registry record changes.

Every decision carries its evidence: the key and the identity check behind a deterministic link, the
field-by-field levels, weight and probability behind a fallback link or a review case.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

import polars as pl

from services.sync_hub.domain.students import StudentView
from services.sync_hub.matching import deterministic, fallback, levels, members, scalar, scalar_fallback
from services.sync_hub.matching.frames import Registry, StudentRow, students_frame
from services.sync_hub.matching.model_store import ModelStore
from shared.contracts.common import MatchKey, Outcome
from shared.nik import mask

LINKED = {Outcome.PKH_RECIPIENT, Outcome.NOT_PKH_RECIPIENT}
_SETTLED = ("PKH_RECIPIENT", "NOT_PKH_RECIPIENT", "IN_REVIEW")  # no fallback for these
# undecided students a check's fallback decides without polars (``scalar_fallback``); more go to ``fallback.run``.
# Measured (docs/benchmarks.md, "The scalar fallback"): the scalar path is cheaper at every size up to 200 (at 200,
# 20 vs 31 ms); a check holds at most 100 students, beyond that the batch path's vectorised blocks are the safer bet
SCALAR_FALLBACK_MAX = 100
_KEY = {"nik": MatchKey.NIK, "nik_ibu": MatchKey.NIK_IBU, "nik_ayah": MatchKey.NIK_AYAH, "nik_wali": MatchKey.NIK_WALI,
        "no_kk": MatchKey.NO_KK}


@dataclass(frozen=True, slots=True)
class FamilyRef:
    """What the hub writes from a registry family (and the version it read)."""

    no_kk: str
    version: int
    pkh_status: str | None
    pkh_periode: str | None
    no_kks: str | None

    @property
    def recipient(self) -> bool:
        return self.pkh_status == "AKTIF"


@dataclass(frozen=True, slots=True)
class Candidate:
    """A registry family (and person, when one stands out) offered to a reviewer, with the evidence."""

    no_kk: str
    version: int
    nik: str | None
    probability: float | None
    weight: float | None
    evidence: dict[str, str]


@dataclass(frozen=True, slots=True)
class MatchDecision:
    outcome: Outcome
    detail: str | None
    matched_by: MatchKey
    family: FamilyRef | None = None
    person_nik: str | None = None  # the child's registry NIK when the child itself was identified
    notes: list[str] = field(default_factory=list)
    review_reason: str | None = None  # "conflict" | "fallback" when the outcome is IN_REVIEW
    candidates: tuple[Candidate, ...] = ()
    evidence: dict[str, object] = field(default_factory=dict)  # fields, levels, weight, probability


@dataclass(frozen=True, slots=True)
class ReviewedDecision:
    """A reviewer's standing decision on one student (from the review queue)."""

    decision_id: str
    link: bool
    no_kk: str | None
    family_version: int | None
    student_fingerprint: str
    candidates_fingerprint: str
    reviewer: str
    reason: str


def fingerprint(student: StudentView) -> str:
    """What a reviewer looked at on the student's side; a decision stands while this is unchanged."""
    data = [student.nama, student.jenis_kelamin, student.tanggal_lahir.isoformat(), student.nik, student.no_kk,
            student.nama_ibu_kandung, student.nik_ibu, student.nama_ayah, student.nik_ayah, student.nama_wali,
            student.nik_wali]
    return hashlib.sha256(json.dumps(data).encode()).hexdigest()[:32]


def candidates_fingerprint(candidates: tuple[Candidate, ...] | list[Candidate]) -> str:
    data = sorted((c.no_kk, c.version) for c in candidates)
    return hashlib.sha256(json.dumps(data).encode()).hexdigest()[:32]


def _naming_invalid(detail: str, row: dict) -> str:  # type: ignore[type-arg]
    """``detail`` (cut to fit) followed by the NIKs of the record that broke a rule and were not used, each with
    its rule: what the school has to fix, kept whole within the 300 characters a gateway stores."""
    if not row["invalid"]:
        return detail[:300]
    tail = f"; invalid: {row['invalid']}"[:300]
    return detail[:300 - len(tail)] + tail


def family_refs(registry: Registry) -> dict[str, FamilyRef]:
    f = registry.families
    return {r[0]: FamilyRef(*r) for r in zip(*(f[c].to_list() for c in ("no_kk", "version", "pkh_status",
                                                                         "pkh_periode", "no_kks")), strict=True)}


def _person_named(row: dict, nik_of: list[str]) -> dict:  # type: ignore[type-arg]
    """``row`` with ``person_nik``: the NIK of its ``pid`` (a position in the persons it was decided over)."""
    return {**row, "person_nik": nik_of[row["pid"]] if row["pid"] is not None else None}


def _wanted(out: list[MatchDecision]) -> dict[int, str]:
    """The students linked to a family without being named in it (by a parent's NIK, or by a reviewer)."""
    return {i: d.family.no_kk for i, d in enumerate(out)
            if d.family is not None and d.person_nik is None and d.outcome in LINKED}


def to_rows(students: list[StudentView], regions: Mapping[str, str] | None = None) -> list[StudentRow]:
    regions = regions or {}
    return [StudentRow(s.nama, s.jenis_kelamin, s.tanggal_lahir, s.nama_ibu_kandung, s.nama_ayah, s.nama_wali,
                       s.nik, s.nik_ibu, s.nik_ayah, s.nik_wali, s.no_kk, regions.get(s.student_id))
            for s in students]


@dataclass
class Matcher:
    """Runs the passes over one batch of students against one registry snapshot."""

    registry: Registry
    settings: fallback.Settings = field(default_factory=fallback.Settings)
    today: date | None = None
    model: fallback.Model | None = None
    store: ModelStore | None = None  # the hub's stored model (reused while the registry holds still)
    model_version: str | None = None  # named in every fallback decision's evidence

    def match(self, students: list[StudentView], regions: Mapping[str, str] | None = None,
              reviewed: Mapping[tuple[str, str], ReviewedDecision] | None = None,
              frame: pl.DataFrame | None = None) -> list[MatchDecision]:
        """``frame``: ``students_frame(to_rows(students, regions), self.today)`` when the caller has made it."""
        if not students:
            return []
        if self.registry.persons.height:  # the registry's preparation runs while the students' frame is made
            deterministic.prepare(self.registry)
            fallback.prepare(self.registry)
        reviewed = reviewed or {}
        stu = frame if frame is not None else students_frame(to_rows(students, regions), self.today)
        nik_of = self.registry.persons["nik"].to_list()
        det, det_niks = self._first_pass(stu, nik_of)
        need = det.filter(~pl.col("outcome").is_in(["PKH_RECIPIENT", "NOT_PKH_RECIPIENT", "IN_REVIEW"]))["sid"]
        fb = pl.DataFrame(schema=fallback.DECISION_SCHEMA)
        if need.len() and self.registry.persons.height:
            if self.model is None:  # the prior: the share of this run's students a verified key linked
                share = det.filter(pl.col("outcome").is_in(["PKH_RECIPIENT", "NOT_PKH_RECIPIENT"])).height / det.height

                def fit() -> fallback.Model:
                    return fallback.train(stu, self.registry, self.settings, share=share)

                if self.store is not None:
                    chosen = self.store.obtain(self.registry.stats(), fit)  # the registry held whole
                    self.model, self.model_version = chosen.model, chosen.version
                else:
                    self.model, self.model_version = fit(), "fitted for this run (not stored)"
            fb = fallback.run(stu.filter(pl.col("sid").is_in(need.implode())), self.registry, self.model,
                              self.settings).decisions
        fb_by_sid = {r["sid"]: _person_named(r, nik_of) for r in fb.iter_rows(named=True)}
        det_rows = [_person_named(r, det_niks) for r in det.iter_rows(named=True)]
        out = self._decide(students, det_rows, fb_by_sid, family_refs(self.registry), reviewed)
        # a family found by a parent's NIK or by a reviewer: which member the student is
        for i, nik in members.find_children(stu, _wanted(out), self.registry.persons).items():
            out[i] = replace(out[i], person_nik=nik)
        return out

    def _first_pass(self, stu: pl.DataFrame, nik_of: list[str]) -> tuple[pl.DataFrame, list[str]]:
        """The deterministic pass over ``stu`` and the NIKs its ``pid`` index: the one a slice already ran for
        these very students (``deterministic.KEY_ROWS_LINK``), else run here."""
        held = self.registry._cache.get(deterministic.KEY_ROWS_LINK)
        if isinstance(held, tuple) and held[0] is stu:
            return held[1], held[2].to_list()
        return deterministic.link(stu, self.registry), nik_of

    def match_few(self, students: list[StudentView], regions: Mapping[str, str] | None,
                  reviewed: Mapping[tuple[str, str], ReviewedDecision] | None, keys: scalar.Keys,
                  widen: Callable[[list[dict[str, Any]]], scalar.Rows], stu: list[dict[str, Any]] | None = None
                  ) -> list[MatchDecision]:
        """:meth:`match` for a handful of students (a check), with the same decisions: the students and the
        deterministic pass one student at a time (``scalar``) over ``keys`` (the registry rows their keys
        reach); only when some are left to the fallback, ``widen(their rows)`` gives the registry rows the fallback
        reads (``self.registry`` is not used), and the fallback decides them: one student at a time
        (``scalar_fallback``) up to ``SCALAR_FALLBACK_MAX`` of them, the batch fallback beyond. Needs ``self.model``.
        ``stu``: ``scalar.students`` of the students when the caller has made them (with this matcher's ``today``)."""
        if not students:
            return []
        assert self.model is not None, "a check decides with the stored model"
        reviewed = reviewed or {}
        if stu is None:
            stu = scalar.students(to_rows(students, regions), self.today)
        det_rows = scalar.link(stu, keys)
        need = [r["sid"] for r in det_rows if r["outcome"] not in _SETTLED]
        fb_by_sid: dict[int, dict] = {}  # type: ignore[type-arg]
        rows: scalar.Rows | None = None  # the widened slice: the persons, families and members the batch path reads
        if need:
            undecided = [stu[i] for i in need]
            rows = widen(undecided)
            if rows.persons:
                nik_of = [p[0] for p in rows.persons]
                if len(need) <= SCALAR_FALLBACK_MAX:  # over the rows: no frames built
                    fb_rows = scalar_fallback.run(undecided, rows, self.model, self.settings)
                else:
                    fb_rows = fallback.run(scalar.frame(undecided), rows.registry(), self.model, self.settings
                                           ).decisions.to_dicts()
                fb_by_sid = {r["sid"]: _person_named(r, nik_of) for r in fb_rows}
        key_niks = [p.nik for p in keys.persons]
        det_rows = [_person_named(r, key_niks) for r in det_rows]
        # (``scalar.Keys.of_rows(rows)``'s families; its members only of the families a child is looked for in)
        families = ({f.no_kk: FamilyRef(f.no_kk, f.version, f.pkh_status, f.pkh_periode, f.no_kks)
                     for f in keys.families.values()} if rows is None else
                    {f[0]: FamilyRef(f[0], f[2], f[3], f[4], f[5]) for f in rows.families})
        out = self._decide(students, det_rows, fb_by_sid, families, reviewed)
        wanted = _wanted(out)
        held = keys
        if rows is not None:
            kks = set(wanted.values())
            held = scalar.Keys([p for p in rows.persons if p[1] in kks], (), ()) if kks else scalar.Keys((), (), ())
        for i, nik in scalar.find_children(stu, wanted, held).items():
            out[i] = replace(out[i], person_nik=nik)
        return out

    def _decide(self, students: list[StudentView], det_rows: list[dict], fb_by_sid: dict[int, dict],  # type: ignore[type-arg]
                families: dict[str, FamilyRef], reviewed: Mapping[tuple[str, str], ReviewedDecision]
                ) -> list[MatchDecision]:
        out = []
        for student, row in zip(students, det_rows, strict=True):
            decision = self._one(row, fb_by_sid.get(row["sid"]), families)
            standing = reviewed.get((student.system.value, student.student_id))
            if standing is not None:
                decision = self._apply_review(student, decision, standing, families)
            out.append(decision)
        return out

    # -- one student -------------------------------------------------------------------------------------

    def _one(self, row: dict, fb: dict | None, families: dict[str, FamilyRef]  # type: ignore[type-arg]
             ) -> MatchDecision:
        outcome = Outcome(row["outcome"])
        notes = [n for n in (row["invalid"], row["mismatch"], row["notes"]) if n]
        family = families.get(row["no_kk"]) if row["no_kk"] else None
        person = row["person_nik"]
        if outcome in LINKED and family is not None:
            key = _KEY[row["matched_by"]]
            detail = f"family found by {key.value}"
            if family.pkh_status:
                detail += f"; PKH {family.pkh_status} {family.pkh_periode or ''}".rstrip()
            child = person if key in (MatchKey.NIK, MatchKey.NO_KK) else None
            return MatchDecision(outcome, _naming_invalid(detail, row), key, family, child, notes,
                                 evidence={"key": key.value, "check": "identity verified"})
        if outcome is Outcome.IN_REVIEW:
            a, b = families.get(row["no_kk"]), families.get(row["other_no_kk"] or "")
            cands = tuple(Candidate(f.no_kk, f.version, None, None, None, {"key": k})
                          for f, k in ((a, "nik"), (b, "nik_ibu")) if f is not None)
            detail = (f"nik is in family {mask(row['no_kk'])}, nik_ibu in family {mask(row['other_no_kk'])}; "
                      "a reviewer decides")
            return MatchDecision(outcome, _naming_invalid(detail, row), MatchKey.NONE, notes=notes,
                                 review_reason="conflict", candidates=cands)
        base = self._deterministic_only(outcome, row, notes)
        if fb is None or fb["band"] == "none":
            return base
        fam = families.get(fb["no_kk"])
        if fam is None:
            return base
        ev = levels.evidence(fb["code"])
        evidence: dict[str, object] = {"fields": ev, "weight": round(fb["weight"], 2),
                                       "probability": round(fb["probability"], 6), "margin": round(fb["margin"], 2),
                                       "base_outcome": base.outcome.value, "base_detail": base.detail,
                                       "model": self.model_version}
        agreed = ", ".join(f"{k} {v}" for k, v in ev.items() if v not in ("missing",))
        pnik = fb["person_nik"]
        if fb["band"] == "auto":
            detail = (f"linked by fallback to family {mask(fam.no_kk)} (p={fb['probability']:.4f}, "
                      f"{fb['weight']:.1f} bits: {agreed}); PKH {fam.pkh_status or 'none'}; confirm the NIK")
            return MatchDecision(Outcome.LINKED_BY_FALLBACK, _naming_invalid(detail, row), MatchKey.FALLBACK, fam,
                                 pnik, [*notes, base.detail or ""], evidence=evidence)
        cands = [Candidate(fam.no_kk, fam.version, pnik, fb["probability"], fb["weight"], ev)]
        other = families.get(fb["other_no_kk"] or "")
        if other is not None:
            cands.append(Candidate(other.no_kk, other.version, None, None, None, {}))
        detail = (f"fallback: possible family {mask(fam.no_kk)} (p={fb['probability']:.3f}: {agreed}); "
                  "a reviewer decides")
        return MatchDecision(Outcome.IN_REVIEW, _naming_invalid(detail, row), MatchKey.NONE,
                             notes=[*notes, base.detail or ""],
                             review_reason="fallback", candidates=tuple(cands), evidence=evidence)

    @staticmethod
    def _deterministic_only(outcome: Outcome, row: dict, notes: list[str]) -> MatchDecision:  # type: ignore[type-arg]
        if outcome is Outcome.NO_NIK:
            return MatchDecision(outcome, "no NIK for the child, mother, father or guardian", MatchKey.NONE,
                                 notes=notes)
        if outcome is Outcome.NIK_INVALID:
            return MatchDecision(outcome, row["invalid"], MatchKey.NONE, notes=notes)
        first_valid = next((_KEY[k] for k in deterministic.NIK_KEYS if row.get(k)), MatchKey.NONE)
        if outcome is Outcome.NIK_MISMATCH:
            return MatchDecision(outcome, _naming_invalid(row["mismatch"], row), first_valid, notes=notes)
        keys = ", ".join(k for k in deterministic.NIK_KEYS if row.get(k))
        detail = f"valid NIK(s) not in the registry: {keys}"
        if row["invalid"]:
            detail += f"; invalid: {row['invalid']}"
        return MatchDecision(outcome, detail, first_valid, notes=notes)

    def _apply_review(self, student: StudentView, decision: MatchDecision, standing: ReviewedDecision,
                      families: dict[str, FamilyRef]) -> MatchDecision:
        """A standing reviewer decision replaces the automatic one while neither record changed."""
        if standing.student_fingerprint != fingerprint(student):
            return decision
        if standing.link:
            fam = families.get(standing.no_kk or "")
            if fam is None or fam.version != standing.family_version:
                return decision
            outcome = Outcome.PKH_RECIPIENT if fam.recipient else Outcome.NOT_PKH_RECIPIENT
            detail = f"linked to family {mask(fam.no_kk)} by reviewer {standing.reviewer}: {standing.reason}"
            if fam.pkh_status:
                detail += f"; PKH {fam.pkh_status} {fam.pkh_periode or ''}".rstrip()
            return MatchDecision(outcome, detail[:300], MatchKey.REVIEW, fam, None, decision.notes,
                                 evidence={"review_decision": standing.decision_id, "reviewer": standing.reviewer})
        if decision.outcome not in (Outcome.IN_REVIEW, Outcome.LINKED_BY_FALLBACK):
            return decision
        if decision.candidates and candidates_fingerprint(decision.candidates) != standing.candidates_fingerprint:
            return decision
        det_outcome = Outcome(str(decision.evidence.get("base_outcome", Outcome.NIK_MISMATCH.value)))
        detail = f"no link, decided by reviewer {standing.reviewer}: {standing.reason}"
        return MatchDecision(det_outcome, detail[:300], MatchKey.REVIEW, notes=decision.notes,
                             evidence={"review_decision": standing.decision_id, "reviewer": standing.reviewer})


