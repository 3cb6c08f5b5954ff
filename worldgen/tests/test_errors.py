"""The error model: every rate observed within sampling tolerance, every recorded error real,
and no deviation from the truth that is not recorded."""

from __future__ import annotations

import math
import random
from datetime import date
from typing import Any

import numpy as np
import pytest

from worldgen.arrays import day_number
from worldgen.config import ErrorRates
from worldgen.errors import (
    FIELD_ERRORS,
    NIK_FIELDS,
    PLACEHOLDERS,
    ErrorCode,
    StudentFields,
    apply_errors,
    codes_of,
    flip_sex,
    swap_adjacent,
    typo_digit,
)
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
    if code is E.STALE_KK:
        return t.true_no_kk_lama is not None
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
    assert all(seen[c] > 20 for c in ErrorCode if c not in FIELD_ERRORS), seen  # those: test_field_errors.py


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
            assert r["no_kk"] == t.true_no_kk_lama != t.true_no_kk and r["no_kk"] not in kks
        else:
            assert r["no_kk"] == t.true_no_kk
        child = w.members[t.true_nik]
        # operators may type in mixed case: only the letters count
        differs = (r["nama"].upper() != child["nama"],
                   r["nama_ibu_kandung"].upper() != child["nama_ibu_kandung"])
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


def _fields(n: int = 1) -> StudentFields:
    return StudentFields(
        nik=np.full(n, 3201014512100001), nik_ibu=np.full(n, 3201014507800002), nik_ayah=np.full(n, -1),
        no_kk=np.full(n, 3201010101200001), old_kk=np.full(n, 3201010101150009),
        nama=np.array(["SITI AMINAH"] * n, dtype=object), nama_ibu=np.array(["SUMIATI"] * n, dtype=object),
        dob=np.full(n, day_number(date(2010, 12, 5))), female=np.ones(n, np.bool_))


def test_apply_errors_with_zero_and_full_rates() -> None:
    f = _fields()
    zero = ErrorRates(**{c.value: 0.0 for c in ErrorCode})
    mask = apply_errors(np.random.default_rng(3), random.Random(3), zero, f)
    assert mask.tolist() == [0]
    assert f.nik[0] == 3201014512100001 and f.nama[0] == "SITI AMINAH" and f.no_kk[0] == 3201010101200001
    one = ErrorRates(**{c.value: 1.0 for c in ErrorCode})
    mask = apply_errors(np.random.default_rng(3), random.Random(3), one, f)
    # the placeholder wins over every other NIK error; the rest all apply
    assert set(codes_of(int(mask[0]))) == {E.STALE_KK, E.PLACEHOLDER_NIK, E.NAME_VARIANT,
                                            E.BIRTH_DATE_DAY_MONTH_SWAPPED, E.BIRTH_DATE_OFF_BY_ONE}
    assert f.no_kk[0] == 3201010101150009
    assert f.nik[0] == f.nik_ibu[0] == f.nik_ayah[0] and f"{f.nik[0]:016d}" in PLACEHOLDERS
    assert abs(f.dob[0] - day_number(date(2010, 5, 12))) == 1
    assert (f.nama[0] != "SITI AMINAH") != (f.nama_ibu[0] != "SUMIATI")


def test_vectorised_corruptions_match_their_definition() -> None:
    """Swapped digits, one-digit typos and the sex flip on many NIKs at once."""
    rng = np.random.default_rng(5)
    n = 2000
    f = _fields(n)
    f.nik_ayah[:] = 3201011203750003
    only = {c.value: 0.0 for c in ErrorCode}
    for code in (E.NIK_SWAPPED_DIGITS, E.NIK_TYPO, E.WRONG_SEX_DIGIT):
        g = _fields(n)
        g.nik_ayah[:] = 3201011203750003
        mask = apply_errors(rng, random.Random(1), ErrorRates(**{**only, code.value: 1.0}), g)
        assert all(codes_of(int(m)) == [code] for m in mask)
        for field, true in (("nik", f.nik), ("nik_ibu", f.nik_ibu), ("nik_ayah", f.nik_ayah)):
            got = getattr(g, field)
            changed = np.flatnonzero(got != true)
            for i in changed[:300].tolist():
                a, b = f"{got[i]:016d}", f"{true[i]:016d}"
                if code is E.NIK_SWAPPED_DIGITS:
                    assert _adjacent_swap(a, b)
                elif code is E.NIK_TYPO:
                    assert _one_digit(a, b)
                else:
                    assert field == "nik" and abs(int(a[6:8]) - int(b[6:8])) == 40 and a[8:] == b[8:]
        # exactly one field changed per record, spread over the fields that can be hit
        n_changed = (g.nik != f.nik).astype(int) + (g.nik_ibu != f.nik_ibu) + (g.nik_ayah != f.nik_ayah)
        assert (n_changed == 1).all()
        if code is not E.WRONG_SEX_DIGIT:
            assert (g.nik_ayah != f.nik_ayah).sum() > n / 5 and (g.nik != f.nik).sum() > n / 5
