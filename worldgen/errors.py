"""The error model: what goes wrong when a school or madrasah operator types a student record.

Errors hit the EDUCATION side only (EMIS ``siswa``, Dapodik ``peserta_didik``); the registry holds the
truth. Each error is drawn independently per student record with its rate from
:class:`worldgen.config.ErrorRates`; draws happen for every record in a fixed order (so the random
stream does not depend on which errors fire), then the drawn errors are applied in the precedence
below. An error that finds nothing to act on is not applied and not recorded, which defines its
*eligible* records (``docs/world.md`` lists them):

1. ``stale_kk``          no_kk := the family's KK number before it was reissued (families with one)
2. ``placeholder_nik``   nik, nik_ibu, nik_ayah := one dummy value (always eligible)
3. ``kk_as_nik``         nik := the record's no_kk (eligible without placeholder_nik)
4. ``child_nik_missing`` nik := null (eligible without placeholder_nik / kk_as_nik)
5. ``mother_nik_missing``/``father_nik_missing`` (eligible when the parent has a NIK, no placeholder)
6. ``nik_swapped_digits`` on one NIK field still holding its true value (child, mother or father)
7. ``nik_typo``          on another such field
8. ``wrong_sex_digit``   on another such field, the child's first
9. ``name_variant``      the child's name or the mother's name (always eligible)
10. ``birth_date_day_month_swapped`` (eligible when day <= 12 and day != month)
11. ``birth_date_off_by_one`` (always eligible)

``duplicate_record`` is decided by the generator: a record that is the second copy of a student in
the same system carries it (its other errors are drawn independently).

Field errors (issue 14), drawn after the above from their own random stream (``apply_field_errors``), so a
world whose rates for them are 0 (the default) is the world it was before they existed:

12. ``name_parts_reordered``  the child's name written in another order of its words (names of 2+ words)
13. ``birth_year_typo``       one digit of the birth year mistyped, or its last two digits swapped (the
                              date stays valid and changes by more than a year)
14. ``birth_date_missing``    the birth date left empty (the hub's contracts require one: for the matcher's
                              benchmarks, which read the files directly)
15. ``school_in_other_kabupaten``  the record is held by a school or madrasah in another kabupaten than the
                              family's (applied by the generator, which picks the institution)
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from worldgen.arrays import BoolArray, IntArray, ObjArray, ymd
from worldgen.config import ErrorRates
from worldgen.names import variant


class ErrorCode(StrEnum):
    CHILD_NIK_MISSING = "child_nik_missing"
    MOTHER_NIK_MISSING = "mother_nik_missing"
    FATHER_NIK_MISSING = "father_nik_missing"
    KK_AS_NIK = "kk_as_nik"
    PLACEHOLDER_NIK = "placeholder_nik"
    NIK_SWAPPED_DIGITS = "nik_swapped_digits"
    NIK_TYPO = "nik_typo"
    WRONG_SEX_DIGIT = "wrong_sex_digit"
    NAME_VARIANT = "name_variant"
    BIRTH_DATE_OFF_BY_ONE = "birth_date_off_by_one"
    BIRTH_DATE_DAY_MONTH_SWAPPED = "birth_date_day_month_swapped"
    STALE_KK = "stale_kk"
    DUPLICATE_RECORD = "duplicate_record"
    NAME_PARTS_REORDERED = "name_parts_reordered"
    BIRTH_YEAR_TYPO = "birth_year_typo"
    BIRTH_DATE_MISSING = "birth_date_missing"
    SCHOOL_IN_OTHER_KABUPATEN = "school_in_other_kabupaten"


ERROR_ORDER = tuple(ErrorCode)
_RANK = {code: i for i, code in enumerate(ERROR_ORDER)}

# Dummy NIKs seen in real data (DOMAIN.md §1.3); all fail shared.nik.check as "placeholder".
PLACEHOLDERS = ("1234567890123456", "1111222233334444", "1111111111111111", "0000000000000000",
                "9999999999999999")

NIK_FIELDS = ("nik", "nik_ibu", "nik_ayah")


def sort_codes(codes: list[ErrorCode]) -> list[ErrorCode]:
    return sorted(codes, key=_RANK.__getitem__)


def rate_of(rates: ErrorRates, code: ErrorCode) -> float:
    return float(getattr(rates, code.value))


# ---- NIK corruptions ---------------------------------------------------------------------------


def swap_adjacent(rng: random.Random, nik: str) -> str:
    """Swap two adjacent, different digits."""
    positions = [i for i in range(15) if nik[i] != nik[i + 1]]
    i = positions[int(rng.random() * len(positions))]
    return nik[:i] + nik[i + 1] + nik[i] + nik[i + 2:]


def typo_digit(rng: random.Random, nik: str) -> str:
    """Change one digit to another digit."""
    i = int(rng.random() * 16)
    new = (int(nik[i]) + 1 + int(rng.random() * 9)) % 10
    return nik[:i] + str(new) + nik[i + 1:]


def flip_sex(nik: str) -> str:
    """Move the day field by 40: the male/female encoding of DD."""
    dd = int(nik[6:8])
    dd = dd - 40 if dd > 40 else dd + 40
    return f"{nik[:6]}{dd:02d}{nik[8:]}"


# ---- application (vectorised) ------------------------------------------------------------------

FIELD_ERRORS = (ErrorCode.NAME_PARTS_REORDERED, ErrorCode.BIRTH_YEAR_TYPO, ErrorCode.BIRTH_DATE_MISSING,
                ErrorCode.SCHOOL_IN_OTHER_KABUPATEN)
_DRAWN = tuple(c for c in ERROR_ORDER if c is not ErrorCode.DUPLICATE_RECORD and c not in FIELD_ERRORS)
MISSING_DATE = np.iinfo(np.int64).min  # a birth date left empty (written as null)
BIT = {code: i for i, code in enumerate(ERROR_ORDER)}
PLACEHOLDER_INTS = np.array([int(p) for p in PLACEHOLDERS], np.int64)
_POW = 10 ** np.arange(15, -1, -1, dtype=np.int64)


def codes_of(mask: int) -> list[ErrorCode]:
    """The error codes of a bit mask, in enum order."""
    return [code for code in ERROR_ORDER if mask >> BIT[code] & 1]


@dataclass
class StudentFields:
    """The fields of the student records the error model touches; NIK-like fields are int64, -1 = null."""

    nik: IntArray
    nik_ibu: IntArray
    nik_ayah: IntArray
    no_kk: IntArray
    old_kk: IntArray  # the family's KK number before it was reissued, -1 when it never was
    nama: ObjArray
    nama_ibu: ObjArray
    dob: IntArray  # day number
    female: BoolArray


def _kth_true(flags: BoolArray, k: IntArray) -> IntArray:
    """Column of the k-th (0-based) True in each row of ``flags``."""
    hit = (np.cumsum(flags, axis=1) - 1 == k[:, None]) & flags
    return np.argmax(hit, axis=1)


def _swap(values: IntArray, u: np.ndarray) -> IntArray:
    d = (values[:, None] // _POW[None, :]) % 10
    differs = d[:, :15] != d[:, 1:]
    k = (u * differs.sum(axis=1)).astype(np.int64)
    i = _kth_true(differs, k)
    rows = np.arange(len(values))
    a, b = d[rows, i], d[rows, i + 1]
    return values + (b - a) * (_POW[i] - _POW[i + 1])


def _typo(values: IntArray, u: np.ndarray, v: np.ndarray) -> IntArray:
    d = (values[:, None] // _POW[None, :]) % 10
    i = (u * 16).astype(np.int64)
    old = d[np.arange(len(values)), i]
    new = (old + 1 + (v * 9).astype(np.int64)) % 10
    return values + (new - old) * _POW[i]


def _flip_sex(values: IntArray) -> IntArray:
    dd = values // 10**8 % 100
    return values + np.where(dd > 40, -40, 40) * 10**8


def _date(year: IntArray, month: IntArray, day: IntArray) -> IntArray:
    months = (year - 1970).astype("datetime64[Y]").astype("datetime64[M]") + (month - 1)
    return (months.astype("datetime64[D]") + (day - 1)).astype(np.int64)


def apply_errors(rng: np.random.Generator, pyrng: random.Random, rates: ErrorRates,
                 f: StudentFields) -> IntArray:
    """Corrupt the fields in place; return per record the bit mask of applied errors (``BIT``)."""
    n = len(f.nik)
    probs = np.array([rate_of(rates, code) for code in _DRAWN])
    drawn = rng.random((n, len(_DRAWN))) < probs[None, :]
    draws = {code: drawn[:, i] for i, code in enumerate(_DRAWN)}
    x = rng.random((n, 9))
    mask = np.zeros(n, np.int64)

    def mark(code: ErrorCode, applied: BoolArray) -> None:
        nonlocal mask
        mask |= applied.astype(np.int64) << BIT[code]

    stale = draws[ErrorCode.STALE_KK] & (f.old_kk >= 0)
    f.no_kk[:] = np.where(stale, f.old_kk, f.no_kk)
    mark(ErrorCode.STALE_KK, stale)

    placeholder = draws[ErrorCode.PLACEHOLDER_NIK]
    value = PLACEHOLDER_INTS[(x[:, 0] * len(PLACEHOLDER_INTS)).astype(np.int64)]
    fields = np.stack([f.nik, f.nik_ibu, f.nik_ayah], axis=1)
    intact = (fields >= 0) & ~placeholder[:, None]
    fields[placeholder] = value[placeholder, None]
    mark(ErrorCode.PLACEHOLDER_NIK, placeholder)
    kk = ~placeholder & draws[ErrorCode.KK_AS_NIK]
    fields[kk, 0] = f.no_kk[kk]
    missing = ~placeholder & ~kk & draws[ErrorCode.CHILD_NIK_MISSING]
    fields[missing, 0] = -1
    intact[:, 0] &= ~(kk | missing)
    mark(ErrorCode.KK_AS_NIK, kk)
    mark(ErrorCode.CHILD_NIK_MISSING, missing)
    for col, code in ((1, ErrorCode.MOTHER_NIK_MISSING), (2, ErrorCode.FATHER_NIK_MISSING)):
        applied = draws[code] & intact[:, col]
        fields[applied, col] = -1
        intact[:, col] &= ~applied
        mark(code, applied)

    for j, code in enumerate((ErrorCode.NIK_SWAPPED_DIGITS, ErrorCode.NIK_TYPO, ErrorCode.WRONG_SEX_DIGIT)):
        count = intact.sum(axis=1)
        rows = np.flatnonzero(draws[code] & (count > 0))
        target = _kth_true(intact[rows], (x[rows, 1 + j] * count[rows]).astype(np.int64))
        if code is ErrorCode.WRONG_SEX_DIGIT:
            target = np.where(intact[rows, 0], 0, target)
        values = fields[rows, target]
        if code is ErrorCode.NIK_SWAPPED_DIGITS:
            values = _swap(values, x[rows, 4])
        elif code is ErrorCode.NIK_TYPO:
            values = _typo(values, x[rows, 4], x[rows, 5])
        else:
            values = _flip_sex(values)
        fields[rows, target] = values
        intact[rows, target] = False
        applied = np.zeros(n, np.bool_)
        applied[rows] = True
        mark(code, applied)
    f.nik[:], f.nik_ibu[:], f.nik_ayah[:] = fields[:, 0], fields[:, 1], fields[:, 2]

    named = draws[ErrorCode.NAME_VARIANT]
    child_side = (x[:, 6] < 0.5) | (f.nama_ibu == "")
    for i in np.flatnonzero(named & child_side).tolist():
        f.nama[i] = variant(pyrng, f.nama[i], female=bool(f.female[i]))
    for i in np.flatnonzero(named & ~child_side).tolist():
        f.nama_ibu[i] = variant(pyrng, f.nama_ibu[i], female=True)
    mark(ErrorCode.NAME_VARIANT, named)

    year, month, day = ymd(f.dob)
    swap = draws[ErrorCode.BIRTH_DATE_DAY_MONTH_SWAPPED] & (day <= 12) & (day != month)
    dob = np.where(swap, _date(year, day, month), f.dob)
    mark(ErrorCode.BIRTH_DATE_DAY_MONTH_SWAPPED, swap)
    off = draws[ErrorCode.BIRTH_DATE_OFF_BY_ONE]
    f.dob[:] = dob + np.where(off, np.where(x[:, 7] < 0.5, 1, -1), 0)
    mark(ErrorCode.BIRTH_DATE_OFF_BY_ONE, off)
    return mask


def _reordered(name: str, u: float) -> str:
    """The words of ``name`` rotated by at least one place ("Budi Santoso" -> "Santoso Budi")."""
    words = name.split()
    k = 1 + int(u * (len(words) - 1))
    return " ".join(words[k:] + words[:k])


def _year_typo(year: IntArray, u: np.ndarray, v: np.ndarray) -> IntArray:
    """A typing error in the year: the last two digits swapped where they differ (2012 -> 2021), else one of
    the last two digits changed; never within a year of the true one."""
    tens, ones = year // 10 % 10, year % 10
    swapped = year - tens * 10 - ones + ones * 10 + tens
    digit = np.where(u < 0.5, 1, 10)
    old = year // digit % 10
    new = (old + 2 + (v * 7).astype(np.int64)) % 10  # 2..8 away: at least two years
    typed = year + (new - old) * digit
    return np.where((u < 0.5) & (tens != ones) & (np.abs(swapped - year) > 1), swapped, typed)


def apply_field_errors(rng: np.random.Generator, rates: ErrorRates, f: StudentFields) -> tuple[IntArray, BoolArray]:
    """The field errors 12-14 applied in place; returns the bit mask of applied errors and the records drawn
    for ``school_in_other_kabupaten`` (the generator moves them). ``f.dob`` becomes ``MISSING_DATE`` where
    the birth date is left empty."""
    n = len(f.nik)
    probs = np.array([rate_of(rates, code) for code in FIELD_ERRORS])
    drawn = rng.random((n, len(FIELD_ERRORS))) < probs[None, :]
    x = rng.random((n, 3))
    mask = np.zeros(n, np.int64)
    words = np.array([len(str(name).split()) for name in f.nama.tolist()])
    reorder = drawn[:, 0] & (words >= 2)
    for i in np.flatnonzero(reorder).tolist():
        f.nama[i] = _reordered(str(f.nama[i]), float(x[i, 0]))
    year, month, day = ymd(f.dob)
    typo = drawn[:, 1]
    new_year = _year_typo(year, x[:, 1], x[:, 2])
    valid = ~((month == 2) & (day == 29))  # 29 February exists in the true year only, maybe
    typo &= valid
    f.dob[:] = np.where(typo, _date(new_year, month, day), f.dob)
    missing = drawn[:, 2]
    f.dob[:] = np.where(missing, MISSING_DATE, f.dob)
    typo &= ~missing
    for code, applied in zip(FIELD_ERRORS[:3], (reorder, typo, missing), strict=True):
        mask |= applied.astype(np.int64) << BIT[code]
    return mask, drawn[:, 3]
