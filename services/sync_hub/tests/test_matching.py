from __future__ import annotations

from datetime import date

import pytest

from services.sync_hub.matching.service import birth_dates_agree, decide, extract_keys
from services.sync_hub.tests.factories import (
    CHILD,
    CHILD_P,
    FATHER_P,
    KK,
    MOTHER,
    MOTHER_P,
    OTHER_KK,
    family,
    hit,
    person,
    student,
)
from shared.contracts.common import MatchKey, Outcome
from shared.contracts.kemensos import NikLookupResult, StatusPkh


def run(s, hits):  # type: ignore[no-untyped-def]
    return decide(s, extract_keys(s), {h.nik: h for h in hits})


def test_child_nik_verified_gives_pkh_recipient() -> None:
    d = run(student(), [hit(CHILD_P, family())])
    assert d.outcome is Outcome.PKH_RECIPIENT and d.matched_by is MatchKey.NIK
    assert d.family is not None and d.family.no_kk == KK


def test_family_not_in_pkh() -> None:
    d = run(student(), [hit(CHILD_P, family(pkh=StatusPkh.GRADUASI))])
    assert d.outcome is Outcome.NOT_PKH_RECIPIENT
    assert run(student(), [hit(CHILD_P, family(pkh=None))]).outcome is Outcome.NOT_PKH_RECIPIENT


def test_mother_decides_when_child_nik_missing() -> None:
    d = run(student(nik=None), [hit(MOTHER_P, family())])
    assert d.outcome is Outcome.PKH_RECIPIENT and d.matched_by is MatchKey.NIK_IBU


def test_no_nik_at_all() -> None:
    d = run(student(nik=None, nik_ibu="", nik_ayah=None), [])
    assert d.outcome is Outcome.NO_NIK


@pytest.mark.parametrize(("raw", "rule"), [
    ("1234567890123456", "placeholder"), ("32010109031", "length"),
    ("3201010903140000", "serial_zero"), ("9901010903140001", "unknown_province"),
])
def test_all_invalid_names_the_rule(raw: str, rule: str) -> None:
    d = run(student(nik=raw, nik_ibu=None, nik_ayah=None), [])
    assert d.outcome is Outcome.NIK_INVALID and d.detail is not None and rule in d.detail


def test_kk_typed_as_nik_is_not_used() -> None:
    s = student(nik=KK, nik_ibu=None, nik_ayah=None)
    keys = extract_keys(s)
    assert keys.invalid == {MatchKey.NIK: "same_as_no_kk"}
    assert run(s, []).outcome is Outcome.NIK_INVALID


def test_valid_but_unknown_is_not_registered() -> None:
    d = run(student(), [NikLookupResult(nik=n, found=False) for n in (CHILD, MOTHER)])
    assert d.outcome is Outcome.NOT_REGISTERED


def test_hit_on_someone_else_is_a_mismatch_not_a_link() -> None:
    stranger = person(CHILD, "Agus Salim", "L", date(2014, 3, 9), "Wati")
    d = run(student(nik_ibu=None, nik_ayah=None), [hit(stranger, family())])
    assert d.outcome is Outcome.NIK_MISMATCH and d.detail and "nama" in d.detail
    assert d.family is None


def test_mother_nik_on_a_man_is_a_mismatch() -> None:
    man = person(MOTHER, "Siti Aminah", "L", date(1986, 7, 21))
    d = run(student(nik=None, nik_ayah=None), [hit(man, family())])
    assert d.outcome is Outcome.NIK_MISMATCH


def test_child_and_mother_in_different_families_go_to_review() -> None:
    d = run(student(), [hit(CHILD_P, family()), hit(MOTHER_P, family(no_kk=OTHER_KK))])
    assert d.outcome is Outcome.IN_REVIEW and d.family is None
    assert d.detail and KK not in d.detail  # masked


def test_father_in_another_family_does_not_override_the_child() -> None:
    d = run(student(), [hit(CHILD_P, family()), hit(FATHER_P, family(no_kk=OTHER_KK, pkh=None))])
    assert d.outcome is Outcome.PKH_RECIPIENT and d.family and d.family.no_kk == KK


@pytest.mark.parametrize(("a", "b", "agree"), [
    (date(2014, 3, 9), date(2014, 3, 9), True), (date(2014, 3, 9), date(2014, 3, 10), True),
    (date(2014, 3, 9), date(2014, 9, 3), True), (date(2014, 3, 9), date(2015, 3, 9), True),
    (date(2014, 3, 9), date(2014, 5, 9), False), (date(2014, 3, 9), date(2012, 3, 9), False),
])
def test_birth_date_tolerance(a: date, b: date, agree: bool) -> None:
    assert birth_dates_agree(a, b) is agree
