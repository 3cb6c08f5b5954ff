"""The error model: every rate observed within sampling tolerance, every recorded error real,
and no deviation from the truth that is not recorded."""

from __future__ import annotations

import math
import random
from datetime import date
from typing import Any

import pytest

from worldgen.config import ErrorRates
from worldgen.errors import NIK_FIELDS, PLACEHOLDERS, ErrorCode, apply_errors, flip_sex, swap_adjacent, typo_digit
from worldgen.names import is_dapodik_safe, variant
from worldgen.tests.conftest import World
from worldgen.truth import GroundTruth

E = ErrorCode
TRUE_FIELD = {"nik": "true_nik", "nik_ibu": "true_nik_ibu", "nik_ayah": "true_nik_ayah"}


def _records(w: World) -> list[tuple[GroundTruth, dict[str, Any]]]:
    return [(t, w.by_id[t.student_id]) for t in w.truth]


def _intact_after_missing(t: GroundTruth) -> int:
    """NIK fields still holding their true value after steps 2-5 (placeholder, kk, missing)."""
    if E.PLACEHOLDER_NIK in t.errors:
        return 0
    n = int(E.KK_AS_NIK not in t.errors and E.CHILD_NIK_MISSING not in t.errors)
    n += int(t.true_nik_ibu is not None and E.MOTHER_NIK_MISSING not in t.errors)
    n += int(t.true_nik_ayah is not None and E.FATHER_NIK_MISSING not in t.errors)
    return n


def eligible(code: ErrorCode, t: GroundTruth, dob: date) -> bool:
    """Which records an error can apply to (docs/world.md, worldgen/errors.py)."""
    e = t.errors
    if code is E.KK_AS_NIK:
        return E.PLACEHOLDER_NIK not in e
    if code is E.CHILD_NIK_MISSING:
        return E.PLACEHOLDER_NIK not in e and E.KK_AS_NIK not in e
    if code is E.MOTHER_NIK_MISSING:
        return E.PLACEHOLDER_NIK not in e and t.true_nik_ibu is not None
    if code is E.FATHER_NIK_MISSING:
        return E.PLACEHOLDER_NIK not in e and t.true_nik_ayah is not None
    if code is E.NIK_SWAPPED_DIGITS:
        return _intact_after_missing(t) >= 1
    if code is E.NIK_TYPO:
        return _intact_after_missing(t) - (E.NIK_SWAPPED_DIGITS in e) >= 1
    if code is E.WRONG_SEX_DIGIT:
        return _intact_after_missing(t) - (E.NIK_SWAPPED_DIGITS in e) - (E.NIK_TYPO in e) >= 1
    if code is E.BIRTH_DATE_DAY_MONTH_SWAPPED:
        return dob.day <= 12 and dob.day != dob.month
    return True


def _check_rates(w: World, rates: ErrorRates) -> None:
    failures = []
    for code in ErrorCode:
        p = getattr(rates, code.value)
        n = hits = 0
        for t in w.truth:
            if eligible(code, t, w.true_dob(t.true_nik)):
                n += 1
                hits += code in t.errors
        assert n > 100, (code, n)
        sd = math.sqrt(p * (1 - p) / n)
        if abs(hits / n - p) > 4 * sd:
            failures.append(f"{code}: observed {hits}/{n} = {hits / n:.4f}, rate {p} (4 sd = {4 * sd:.4f})")
    assert not failures, "\n".join(failures)


def test_raised_rates_observed(raised_world: World) -> None:
    _check_rates(raised_world, raised_world.config.error_rates)


def test_default_rates_observed(default_world: World) -> None:
    _check_rates(default_world, default_world.config.error_rates)


def test_manifest_counts_errors(raised_world: World) -> None:
    for code in ErrorCode:
        assert raised_world.manifest["errors"][code.value] == sum(code in t.errors for t in raised_world.truth)


def _adjacent_swap(a: str, b: str) -> bool:
    diff = [i for i in range(16) if a[i] != b[i]]
    return len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]


def _one_digit(a: str, b: str) -> bool:
    return sum(x != y for x, y in zip(a, b, strict=True)) == 1


def test_nik_errors_are_real(raised_world: World) -> None:
    w = raised_world
    seen = {c: 0 for c in ErrorCode}
    for t, r in _records(w):
        e = set(t.errors)
        for c in e:
            seen[c] += 1
        if E.PLACEHOLDER_NIK in e:
            assert r["nik"] == r["nik_ibu"] == r["nik_ayah"] and r["nik"] in PLACEHOLDERS
            assert not e & {E.KK_AS_NIK, E.CHILD_NIK_MISSING, E.MOTHER_NIK_MISSING, E.FATHER_NIK_MISSING,
                            E.NIK_SWAPPED_DIGITS, E.NIK_TYPO, E.WRONG_SEX_DIGIT}
            continue
        if E.KK_AS_NIK in e:
            assert r["nik"] == r["no_kk"] and E.CHILD_NIK_MISSING not in e
        elif E.CHILD_NIK_MISSING in e:
            assert r["nik"] is None
        assert (r["nik_ibu"] is None) == (t.true_nik_ibu is None or E.MOTHER_NIK_MISSING in e)
        assert (r["nik_ayah"] is None) == (t.true_nik_ayah is None or E.FATHER_NIK_MISSING in e)
        # fields that should hold a (possibly corrupted) true NIK
        changed = {}
        for f in NIK_FIELDS:
            truth = getattr(t, TRUE_FIELD[f])
            if r[f] is None or (f == "nik" and E.KK_AS_NIK in e):
                continue
            if r[f] != truth:
                changed[f] = (r[f], truth)
        digit_errors = e & {E.NIK_SWAPPED_DIGITS, E.NIK_TYPO, E.WRONG_SEX_DIGIT}
        assert len(changed) == len(digit_errors), (t, r)
        if digit_errors == {E.NIK_SWAPPED_DIGITS}:
            ((value, truth),) = changed.values()
            assert _adjacent_swap(value, truth)
        if digit_errors == {E.NIK_TYPO}:
            ((value, truth),) = changed.values()
            assert _one_digit(value, truth)
        if digit_errors == {E.WRONG_SEX_DIGIT}:
            ((field, (value, truth)),) = changed.items()
            assert abs(int(value[6:8]) - int(truth[6:8])) == 40 and value[8:] == truth[8:]
            if E.KK_AS_NIK not in e and E.CHILD_NIK_MISSING not in e:
                assert field == "nik", "the child's NIK is flipped first"
    assert all(seen[c] > 20 for c in ErrorCode), seen


def test_kk_and_date_and_name_errors_are_real(raised_world: World) -> None:
    w = raised_world
    kks = set(w.families)
    for t, r in _records(w):
        e = set(t.errors)
        dob = w.true_dob(t.true_nik)
        got = date.fromisoformat(r["tanggal_lahir"])
        expected = dob
        if E.BIRTH_DATE_DAY_MONTH_SWAPPED in e:
            expected = date(dob.year, dob.day, dob.month)
            assert expected != dob
        if E.BIRTH_DATE_OFF_BY_ONE in e:
            assert abs((got - expected).days) == 1
        else:
            assert got == expected
        if not t.in_registry:
            continue
        if E.STALE_KK in e:
            assert r["no_kk"] != t.true_no_kk and r["no_kk"] not in kks and len(r["no_kk"]) == 16
        else:
            assert r["no_kk"] == t.true_no_kk
        child = w.members[t.true_nik]
        differs = (r["nama"] != child["nama"], r["nama_ibu_kandung"] != child["nama_ibu_kandung"])
        if E.NAME_VARIANT in e:
            assert sum(differs) == 1
        else:
            assert differs == (False, False)


def test_stale_kk_shared_by_siblings(raised_world: World) -> None:
    """A family has one pre-split KK number: every stale record of its children carries the same one."""
    stale: dict[str, set[str]] = {}
    for t, r in _records(raised_world):
        if t.in_registry and E.STALE_KK in t.errors:
            stale.setdefault(t.true_no_kk, set()).add(r["no_kk"])
    assert stale and all(len(v) == 1 for v in stale.values())


# ---- unit tests of the building blocks ---------------------------------------------------------


@pytest.mark.parametrize("seed", range(50))
def test_nik_corruptions(seed: int) -> None:
    rng = random.Random(seed)
    nik = f"3201{rng.randrange(10**12):012d}"
    assert _adjacent_swap(swap_adjacent(rng, nik), nik)
    assert _one_digit(typo_digit(rng, nik), nik)
    flipped = flip_sex("3201014512100001")
    assert flipped == "3201010512100001" and flip_sex(flipped) == "3201014512100001"


def test_name_variants_differ_and_stay_dapodik_safe() -> None:
    rng = random.Random(1)
    names = ["MUHAMMAD RIZKI", "SITI AMINAH", "SOEDJONO", "MA'RUF", "AHMAD FAUZI BIN ABDULLAH",
             "NI MADE AYU SUASTINI", "MARIA BR SIMANJUNTAK", "H. AHMAD SUJADI, S.PD.", "AI", "SRI NUR HASANAH"]
    for name in names:
        seen = set()
        for _ in range(200):
            v = variant(rng, name, female=True)
            assert v != name and v.strip() and is_dapodik_safe(v), (name, v)
            seen.add(v)
        assert len(seen) > 3, (name, seen)


def test_apply_errors_with_zero_rates_changes_nothing() -> None:
    rng = random.Random(3)
    rec = {"nik": "3201014512100001", "nik_ibu": "3201014507800002", "nik_ayah": None,
           "no_kk": "3201010101200001", "nama": "SITI AMINAH", "nama_ibu_kandung": "SUMIATI",
           "tanggal_lahir": date(2010, 12, 5)}
    before = dict(rec)
    zero = ErrorRates(**{c.value: 0.0 for c in ErrorCode})
    assert apply_errors(rng, zero, rec, child_female=True, true_dob=date(2010, 12, 5),
                        previous_kk=lambda: "x") == []
    assert rec == before
    one = ErrorRates(**{c.value: 1.0 for c in ErrorCode})
    codes = apply_errors(rng, one, rec, child_female=True, true_dob=date(2010, 12, 5),
                         previous_kk=lambda: "3201010101150009")
    # the placeholder wins over every other NIK error; the rest all apply
    assert set(codes) == {E.STALE_KK, E.PLACEHOLDER_NIK, E.NAME_VARIANT, E.BIRTH_DATE_DAY_MONTH_SWAPPED,
                          E.BIRTH_DATE_OFF_BY_ONE}
    assert codes == sorted(codes, key=list(ErrorCode).index)
    assert rec["no_kk"] == "3201010101150009"
    assert rec["nik"] == rec["nik_ibu"] == rec["nik_ayah"] in PLACEHOLDERS
    assert abs((rec["tanggal_lahir"] - date(2010, 5, 12)).days) == 1
    assert (rec["nama"] != "SITI AMINAH") != (rec["nama_ibu_kandung"] != "SUMIATI")
