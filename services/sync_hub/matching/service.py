"""Deterministic linking by NIK, with identity verification. Pure functions: no I/O.

A student record carries up to four NIKs (child, mother, father, guardian). A NIK that breaks a NIK
rule is not used. A NIK hit is not trusted on its own: a mistyped digit is often another real
person's valid NIK, so each hit is checked against the identity the record says it belongs to
(child: name, birth date, mother's name; parents: name and sex). The first verified key in the order
child, mother, father, guardian decides the family; if the child's and the mother's verified keys
point at different families, nobody guesses: the student goes to review.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from services.sync_hub.sync.students import StudentView
from shared import names
from shared.contracts.common import MatchKey, Outcome
from shared.contracts.kemensos import Anggota, Keluarga, NikLookupResult, StatusPkh
from shared.nik import check as check_nik
from shared.nik import mask

KEY_FIELDS: tuple[tuple[MatchKey, str], ...] = (
    (MatchKey.NIK, "nik"),
    (MatchKey.NIK_IBU, "nik_ibu"),
    (MatchKey.NIK_AYAH, "nik_ayah"),
    (MatchKey.NIK_WALI, "nik_wali"),
)
NAME_OK = 0.85
PARENT_NAME_OK = 0.80


@dataclass(frozen=True, slots=True)
class Keys:
    """The NIKs a student record carries, split into usable and rejected (with the rule broken)."""

    valid: dict[MatchKey, str]
    invalid: dict[MatchKey, str]

    @property
    def present(self) -> bool:
        return bool(self.valid or self.invalid)


def extract_keys(student: StudentView) -> Keys:
    valid: dict[MatchKey, str] = {}
    invalid: dict[MatchKey, str] = {}
    kk = (student.no_kk or "").strip()
    for key, attr in KEY_FIELDS:
        raw = getattr(student, attr)
        result = check_nik(raw)
        if result.rule is not None and result.rule.value == "empty":
            continue
        if result.rule is not None:
            invalid[key] = result.rule.value
        elif kk and result.normalised == kk:
            invalid[key] = "same_as_no_kk"  # Dapodik's own warning: the KK number typed as NIK
        else:
            valid[key] = result.normalised
    return Keys(valid, invalid)


def birth_dates_agree(a: date, b: date) -> bool:
    """Equal, a day apart, day and month swapped, or same day and month a year apart."""
    if a == b or abs((a - b).days) <= 1:
        return True
    if a.year == b.year and a.day == b.month and a.month == b.day:
        return True
    return a.month == b.month and a.day == b.day and abs(a.year - b.year) == 1


@dataclass(frozen=True, slots=True)
class Verification:
    ok: bool
    disagreed: str | None = None  # which identity element disagreed, for NIK_MISMATCH


def verify(key: MatchKey, student: StudentView, person: Anggota) -> Verification:
    if key is MatchKey.NIK:
        name = names.similarity(student.nama, person.nama)
        born = birth_dates_agree(student.tanggal_lahir, person.tanggal_lahir)
        mother = names.similarity(student.nama_ibu_kandung, person.nama_ibu_kandung)
        if name >= NAME_OK and (born or mother >= NAME_OK):
            return Verification(True)
        if name >= 0.70 and student.tanggal_lahir == person.tanggal_lahir and mother >= NAME_OK:
            return Verification(True)
        return Verification(False, "nama" if name < NAME_OK else "tanggal_lahir")
    expected_name, expected_sex = {
        MatchKey.NIK_IBU: (student.nama_ibu_kandung, "P"),
        MatchKey.NIK_AYAH: (student.nama_ayah, "L"),
        MatchKey.NIK_WALI: (student.nama_wali, None),
    }[key]
    label = {MatchKey.NIK_IBU: "nama_ibu_kandung", MatchKey.NIK_AYAH: "nama_ayah", MatchKey.NIK_WALI: "nama_wali"}[key]
    if expected_sex and person.jenis_kelamin.value != expected_sex:
        return Verification(False, f"jenis_kelamin of {key.value}")
    if names.similarity(expected_name, person.nama) < PARENT_NAME_OK:
        return Verification(False, label)
    return Verification(True)


@dataclass(frozen=True, slots=True)
class MatchDecision:
    outcome: Outcome
    detail: str | None
    matched_by: MatchKey
    family: Keluarga | None = None
    person: Anggota | None = None
    verified_nik: str | None = None  # the child's own NIK when it was verified
    notes: list[str] = field(default_factory=list)


def _pkh_outcome(family: Keluarga) -> Outcome:
    return Outcome.PKH_RECIPIENT if family.pkh and family.pkh.status is StatusPkh.AKTIF else Outcome.NOT_PKH_RECIPIENT


def decide(student: StudentView, keys: Keys, hits: dict[str, NikLookupResult]) -> MatchDecision:
    """The outcome of one student, given the registry's answers for its valid NIKs."""
    if not keys.present:
        return MatchDecision(Outcome.NO_NIK, "no NIK for the child, mother, father or guardian", MatchKey.NONE)
    if not keys.valid:
        detail = "; ".join(f"{k.value}: {rule}" for k, rule in keys.invalid.items())
        return MatchDecision(Outcome.NIK_INVALID, detail, MatchKey.NONE)

    verified: dict[MatchKey, tuple[Anggota, Keluarga]] = {}
    mismatches: list[str] = []
    for key, nik in keys.valid.items():
        hit = hits.get(nik)
        if hit is None or not hit.found or hit.person is None or hit.family is None:
            continue
        check = verify(key, student, hit.person)
        if check.ok:
            verified[key] = (hit.person, hit.family)
        else:
            mismatches.append(f"{key.value}: {check.disagreed} disagrees")

    child, mother = verified.get(MatchKey.NIK), verified.get(MatchKey.NIK_IBU)
    if child and mother and child[1].no_kk != mother[1].no_kk:
        detail = (f"nik is in family {mask(child[1].no_kk)}, nik_ibu in family {mask(mother[1].no_kk)}; "
                  "a reviewer decides")
        return MatchDecision(Outcome.IN_REVIEW, detail, MatchKey.NONE)

    notes = [f"{k.value}: {rule}" for k, rule in keys.invalid.items()] + mismatches
    for key, _ in KEY_FIELDS:
        if key in verified:
            person, family = verified[key]
            others = {f.no_kk for k, (_, f) in verified.items() if k is not key}
            if others - {family.no_kk}:
                notes.append("another parent is registered in a different family")
            outcome = _pkh_outcome(family)
            detail = f"family found by {key.value}"
            if family.pkh:
                detail += f"; PKH {family.pkh.status.value} {family.pkh.periode}"
            return MatchDecision(outcome, detail, key, family, person,
                                 keys.valid[key] if key is MatchKey.NIK else None, notes)

    first_valid = next(iter(keys.valid))
    if mismatches:
        return MatchDecision(Outcome.NIK_MISMATCH, "; ".join(mismatches), first_valid, notes=notes)
    detail = "valid NIK(s) not in the registry: " + ", ".join(k.value for k in keys.valid)
    if keys.invalid:
        detail += "; invalid: " + ", ".join(f"{k.value} ({r})" for k, r in keys.invalid.items())
    return MatchDecision(Outcome.NOT_REGISTERED, detail, first_valid)
