"""The error model: what goes wrong when a school or madrasah operator types a student record.

Errors hit the EDUCATION side only (EMIS ``siswa``, Dapodik ``peserta_didik``); the registry holds the
truth. Each error is drawn independently per student record with its rate from
:class:`worldgen.config.ErrorRates`; draws happen for every record in a fixed order (so the random
stream does not depend on which errors fire), then the drawn errors are applied in the precedence
below. An error that finds nothing to act on is not applied and not recorded, which defines its
*eligible* records (``docs/world.md`` lists them):

1. ``stale_kk``          no_kk := the family's KK number from before its split (always eligible)
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
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, timedelta
from enum import StrEnum
from functools import cache
from typing import Any

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


# ---- application -------------------------------------------------------------------------------

_DRAWN = tuple(c for c in ERROR_ORDER if c is not ErrorCode.DUPLICATE_RECORD)


@cache
def _drawn_rates(rates: ErrorRates) -> tuple[tuple[ErrorCode, float], ...]:
    return tuple((code, rate_of(rates, code)) for code in _DRAWN)


def apply_errors(
    rng: random.Random,
    rates: ErrorRates,
    rec: dict[str, Any],
    *,
    child_female: bool,
    true_dob: date,
    previous_kk: Callable[[], str],
) -> list[ErrorCode]:
    """Corrupt ``rec`` (a student row with true values) in place; return the applied error codes.

    ``rec`` must hold ``nik``, ``nik_ibu``, ``nik_ayah``, ``no_kk``, ``nama``, ``nama_ibu_kandung``
    and ``tanggal_lahir`` (a ``date``). ``previous_kk`` returns the family's pre-split KK number.
    """
    draws = {code: rng.random() < rate for code, rate in _drawn_rates(rates)}
    applied: list[ErrorCode] = []

    if draws[ErrorCode.STALE_KK]:
        rec["no_kk"] = previous_kk()
        applied.append(ErrorCode.STALE_KK)

    placeholder = draws[ErrorCode.PLACEHOLDER_NIK]
    intact = {f: rec[f] is not None for f in NIK_FIELDS}  # field still holds its true NIK
    if placeholder:
        value = PLACEHOLDERS[int(rng.random() * len(PLACEHOLDERS))]
        for f in NIK_FIELDS:
            rec[f] = value
            intact[f] = False
        applied.append(ErrorCode.PLACEHOLDER_NIK)
    else:
        if draws[ErrorCode.KK_AS_NIK]:
            rec["nik"] = rec["no_kk"]
            intact["nik"] = False
            applied.append(ErrorCode.KK_AS_NIK)
        elif draws[ErrorCode.CHILD_NIK_MISSING]:
            rec["nik"] = None
            intact["nik"] = False
            applied.append(ErrorCode.CHILD_NIK_MISSING)
        for code, f in ((ErrorCode.MOTHER_NIK_MISSING, "nik_ibu"), (ErrorCode.FATHER_NIK_MISSING, "nik_ayah")):
            if draws[code] and intact[f]:
                rec[f] = None
                intact[f] = False
                applied.append(code)

    for code in (ErrorCode.NIK_SWAPPED_DIGITS, ErrorCode.NIK_TYPO, ErrorCode.WRONG_SEX_DIGIT):
        if not draws[code]:
            continue
        available = [f for f in NIK_FIELDS if intact[f]]
        if not available:
            continue
        if code is ErrorCode.WRONG_SEX_DIGIT and intact["nik"]:
            target = "nik"
        else:
            target = available[int(rng.random() * len(available))]
        nik = rec[target]
        if code is ErrorCode.NIK_SWAPPED_DIGITS:
            rec[target] = swap_adjacent(rng, nik)
        elif code is ErrorCode.NIK_TYPO:
            rec[target] = typo_digit(rng, nik)
        else:
            rec[target] = flip_sex(nik)
        intact[target] = False
        applied.append(code)

    if draws[ErrorCode.NAME_VARIANT]:
        if rng.random() < 0.5:
            rec["nama"] = variant(rng, rec["nama"], female=child_female)
        else:
            rec["nama_ibu_kandung"] = variant(rng, rec["nama_ibu_kandung"], female=True)
        applied.append(ErrorCode.NAME_VARIANT)

    dob: date = rec["tanggal_lahir"]
    if draws[ErrorCode.BIRTH_DATE_DAY_MONTH_SWAPPED] and true_dob.day <= 12 and true_dob.day != true_dob.month:
        dob = date(dob.year, dob.day, dob.month)
        applied.append(ErrorCode.BIRTH_DATE_DAY_MONTH_SWAPPED)
    if draws[ErrorCode.BIRTH_DATE_OFF_BY_ONE]:
        dob = dob + timedelta(days=1 if rng.random() < 0.5 else -1)
        applied.append(ErrorCode.BIRTH_DATE_OFF_BY_ONE)
    rec["tanggal_lahir"] = dob
    return sort_codes(applied)
