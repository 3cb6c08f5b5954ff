"""NIK (Nomor Induk Kependudukan) rules: normalise, validate with a reason, parse, suspect, mask.

Layout ``PP KK CC DD MM YY SSSS`` (DOMAIN.md §1.1): region prefix of the kecamatan of first issuance,
birth day (+40 for women), month, two-digit year, serial 0001-9999. There is no check digit, so a
NIK that passes every rule may still belong to somebody else; the hub verifies identity separately.

Two kinds of finding:

* a **rule** (:class:`NikRule`) rejects the value: it cannot be anybody's NIK (wrong length, a
  placeholder, an unknown region prefix, an impossible date, serial 0000). ``check`` names the first
  rule broken.
* a **suspicion** (:class:`NikSuspicion`) does not reject: the value is a well-formed NIK, but the record
  around it makes it doubtful (it equals the family's KK number, the child and a parent carry the same
  one, the sex digit or the birth date in it disagrees with the record). ``suspicions`` lists them; the
  caller decides what to do (the hub still verifies any hit against the identity).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from itertools import pairwise

import polars as pl

from shared.regions import known_kabupaten, known_nik_prefixes, provinces

# Separators people type or spreadsheets add: spaces (incl. NBSP via NFKC), dots, dashes, slashes,
# underscores, and the leading apostrophe Excel uses to keep a number as text.
_STRIP = re.compile(r"[\s.\-_/'`‘’]")


class NikRule(StrEnum):
    """Why a NIK was rejected. The value is what operators and clients see."""

    EMPTY = "empty"
    LENGTH = "length"  # not 16 digits after normalising
    CHARACTERS = "characters"  # something other than digits
    PLACEHOLDER = "placeholder"  # 1234567890123456, repeated digits or blocks, zero padding
    PROVINCE = "unknown_province"
    KABUPATEN = "unknown_kabupaten"
    KECAMATAN = "unknown_kecamatan"
    BIRTH_DATE = "impossible_birth_date"
    SERIAL = "serial_zero"


class NikSuspicion(StrEnum):
    """Why a well-formed NIK is doubtful in its record. Never a reason to reject on its own."""

    SAME_AS_NO_KK = "same_as_no_kk"  # the KK number typed into the NIK field (same format)
    SHARED_IN_FAMILY = "shared_with_family_member"  # the same NIK for the child and a parent
    SEX_DIGIT = "sex_digit_disagrees"  # DD (+40 for women) disagrees with the sex field
    BIRTH_DATE_FAR = "birth_date_far"  # the NIK's DDMMYY is far from the recorded birth date


class Sex(StrEnum):
    L = "L"  # laki-laki
    P = "P"  # perempuan


@dataclass(frozen=True, slots=True)
class ParsedNik:
    nik: str
    prefix: str
    sex: Sex
    birth_date: date  # the most recent reading of YY that is not in the future
    serial: str

    @property
    def birth_dates(self) -> tuple[date, ...]:
        """Every reading of the two-digit year (19YY and 20YY) that is a real date."""
        out = []
        for century in (1900, 2000):
            try:
                out.append(date(century + self.birth_date.year % 100, self.birth_date.month, self.birth_date.day))
            except ValueError:  # 29 February in one century only
                continue
        return tuple(out)


@dataclass(frozen=True, slots=True)
class NikCheck:
    """Result of validating one NIK: ``parsed`` when valid, else the first rule it broke."""

    normalised: str
    rule: NikRule | None
    parsed: ParsedNik | None

    @property
    def valid(self) -> bool:
        return self.rule is None


def normalise(raw: str | None) -> str:
    """Strip spaces, dots, dashes, slashes, apostrophes; map full-width and other Unicode digits to ASCII."""
    if raw is None:
        return ""
    text = unicodedata.normalize("NFKC", _STRIP.sub("", unicodedata.normalize("NFKC", str(raw))))
    if text.isascii():
        return text
    return "".join(str(unicodedata.digit(ch)) if ch.isdigit() else ch for ch in text)


_STRIP_ASCII = re.compile(r"[\s.\-_/'`]", re.ASCII)


def normalise_ascii(raw: str) -> str:
    """:func:`normalise_expr` of one ASCII value (what :func:`normalise_column` does to a column of ASCII text:
    the ASCII separators dropped, nothing else)."""
    return _STRIP_ASCII.sub("", raw)


_KNOWN_PLACEHOLDERS = frozenset({
    "1234567890123456", "0123456789012345", "6543210987654321", "9876543210987654", "1234123412341234",
})


def placeholder_pattern(nik: str) -> str | None:
    """The placeholder pattern a 16-digit string follows, or None. No real NIK can follow one."""
    if nik in _KNOWN_PLACEHOLDERS:
        return "known placeholder"
    if "0000000" in nik:  # Dapodik strips this run before counting digits: zero-padded fillers.
        return "zero padding"  # A real NIK has at most six zeros in a row (MM x0, YY 00, serial 000x).
    for period in (1, 2, 3, 4):  # 1111111111111111, 1212121212121212, 1231231231231231, 1234123412341234
        if all(nik[i] == nik[i % period] for i in range(16)):
            return "repeated digits"
    if all(len(set(nik[i : i + 4])) == 1 for i in range(0, 16, 4)):  # 1111222233334444
        return "repeated blocks"
    steps = {(int(b) - int(a)) % 10 for a, b in pairwise(nik)}
    if steps in ({1}, {9}):  # 2345678901234567, 8765432109876543
        return "digit sequence"
    return None


def birth_date_of(day_field: int, month: int, yy: int, today: date | None = None) -> date | None:
    """Birth date from the NIK's DDMMYY (day already reduced by 40 for women).

    The century is ambiguous: prefer 20YY unless that lies in the future, then 19YY.
    """
    today = today or date.today()
    for century in (2000, 1900):
        year = century + yy
        try:
            born = date(year, month, day_field)
        except ValueError:
            continue
        if born <= today:
            return born
    return None


def check(raw: str | None, today: date | None = None) -> NikCheck:
    """Validate one NIK; the first rule broken is named (order: the cheapest and most telling first)."""
    return check_normalised(normalise(raw), today)


def check_normalised(nik: str, today: date | None = None) -> NikCheck:
    """:func:`check` of a value already normalised (``normalise``, or ``normalise_ascii`` for ASCII text)."""
    if not nik:
        return NikCheck(nik, NikRule.EMPTY, None)
    if not (nik.isascii() and nik.isdigit()):
        return NikCheck(nik, NikRule.CHARACTERS, None)
    if len(nik) != 16:
        return NikCheck(nik, NikRule.LENGTH, None)
    if placeholder_pattern(nik):
        return NikCheck(nik, NikRule.PLACEHOLDER, None)
    if nik[:2] not in provinces():
        return NikCheck(nik, NikRule.PROVINCE, None)
    if nik[:4] not in known_kabupaten():
        return NikCheck(nik, NikRule.KABUPATEN, None)
    if nik[:6] not in known_nik_prefixes():
        return NikCheck(nik, NikRule.KECAMATAN, None)
    dd, mm, yy = int(nik[6:8]), int(nik[8:10]), int(nik[10:12])
    sex = Sex.P if dd > 40 else Sex.L
    day = dd - 40 if dd > 40 else dd
    born = birth_date_of(day, mm, yy, today) if 1 <= day <= 31 and 1 <= mm <= 12 else None
    if born is None:
        return NikCheck(nik, NikRule.BIRTH_DATE, None)
    if nik[12:] == "0000":
        return NikCheck(nik, NikRule.SERIAL, None)
    return NikCheck(nik, None, ParsedNik(nik, nik[:6], sex, born, nik[12:]))


def is_valid(raw: str | None) -> bool:
    return check(raw).valid


def dates_close(a: date, b: date, days: int) -> bool:
    """Within ``days`` of each other, or the same date with day and month swapped."""
    if abs((a - b).days) <= days:
        return True
    return a.year == b.year and a.day == b.month and a.month == b.day


def suspicions(
    raw: str | None,
    *,
    no_kk: str | None = None,
    sex: str | None = None,
    birth_date: date | None = None,
    family_niks: Iterable[str | None] = (),
    tolerance_days: int = 31,
    today: date | None = None,
) -> tuple[NikSuspicion, ...]:
    """What makes a NIK doubtful in its record; empty for an invalid NIK (``check`` names that rule).

    ``no_kk`` is the record's KK number, ``sex`` its ``L``/``P``, ``birth_date`` the date of birth the
    record gives for the NIK's holder, ``family_niks`` the NIKs the record gives for other people
    (the child's parents, or the child). The birth date is *far* when no reading of the NIK's year
    lies within ``tolerance_days`` of the recorded date (a day/month swap counts as near): NIK and
    birth certificate disagree often enough that this is a suspicion, not a rule (DOMAIN.md §1.2).
    """
    result = check(raw, today)
    if result.parsed is None:
        return ()
    nik, parsed = result.normalised, result.parsed
    found: list[NikSuspicion] = []
    if no_kk and normalise(no_kk) == nik:
        found.append(NikSuspicion.SAME_AS_NO_KK)
    if any(other and normalise(other) == nik for other in family_niks):
        found.append(NikSuspicion.SHARED_IN_FAMILY)
    if sex in ("L", "P") and parsed.sex.value != sex:
        found.append(NikSuspicion.SEX_DIGIT)
    if birth_date is not None and not any(dates_close(d, birth_date, tolerance_days) for d in parsed.birth_dates):
        found.append(NikSuspicion.BIRTH_DATE_FAR)
    return tuple(found)


def flip_sex(nik: str) -> str:
    """The same NIK with the other sex encoding of DD (day +/- 40): a common entry error to try."""
    dd = int(nik[6:8])
    dd = dd - 40 if dd > 40 else dd + 40
    return f"{nik[:6]}{dd:02d}{nik[8:]}"


def encode(prefix: str, sex: Sex, born: date, serial: int) -> str:
    """Build a NIK (used by the synthetic world generator)."""
    if not 1 <= serial <= 9999:
        raise ValueError("serial must be 1..9999")
    day = born.day + (40 if sex is Sex.P else 0)
    return f"{prefix}{day:02d}{born.month:02d}{born.year % 100:02d}{serial:04d}"


def mask(value: str | None) -> str:
    """Mask a NIK or KK number for logs and screens: ``320101******0001``."""
    if not value:
        return ""
    text = str(value)
    if len(text) <= 10:
        return "*" * len(text)
    return f"{text[:6]}{'*' * (len(text) - 10)}{text[-4:]}"


# ---- vectorised (polars) -----------------------------------------------------------------------

def _sequences() -> list[str]:
    out = []
    for start in range(10):
        out.append("".join(str((start + i) % 10) for i in range(16)))
        out.append("".join(str((start - i) % 10) for i in range(16)))
    return out


def normalise_expr(column: str | pl.Expr) -> pl.Expr:
    """``normalise`` for a polars column of ASCII text (separators dropped). Use :func:`normalise` per value
    for non-ASCII input (full-width digits); :func:`check_frame` does."""
    e = column if isinstance(column, pl.Expr) else pl.col(column)
    return e.str.replace_all(r"[\s.\-_/'`]", "")


def _as_int(n: pl.Expr) -> pl.Expr:
    """A 16-digit NIK as an unsigned 64-bit integer (null for anything else)."""
    return pl.when(n.str.contains(r"^[0-9]{16}$")).then(n.cast(pl.UInt64, strict=False))


def _date_parts(x: pl.Expr) -> list[pl.Expr]:
    """``_day`` (DD less 40 for women), ``_mm``, ``_yy`` of the integer NIK ``x``."""
    dd = (x // 10**8 % 100).cast(pl.Int32)
    return [pl.when(dd > 40).then(dd - 40).otherwise(dd).alias("_day"), (x // 10**6 % 100).cast(pl.Int32).alias("_mm"),
            (x // 10**4 % 100).cast(pl.Int32).alias("_yy")]


@functools.cache
def _int_set(name: str) -> pl.Series:
    """A set of codes the rules test membership in, as one sorted integer column, built once per process (it is
    the same for every call: building it again cost most of a small call)."""
    known = {"placeholders": lambda: _KNOWN_PLACEHOLDERS, "sequences": _sequences, "provinces": provinces,
             "kabupaten": known_kabupaten, "kecamatan": known_nik_prefixes}[name]()
    return pl.Series(name, sorted(int(v) for v in known), dtype=pl.UInt64)


def _rules(n: pl.Expr, x: pl.Expr, day: pl.Expr, mm: pl.Expr, yy: pl.Expr, today: date) -> pl.Expr:
    def head(k: int) -> pl.Expr:  # the first k digits, as an integer
        return x // 10 ** (16 - k)

    periodic = [
        x % 1111111111111111 == 0,  # one digit repeated
        x == head(2) * 101010101010101,  # 1212121212121212
        x == head(3) * 10010010010010 + head(1),  # 1231231231231231
        x == head(4) * 1000100010001,  # 1234123412341234
    ]
    blocks = pl.all_horizontal([(x // 10 ** (12 - 4 * i)) % 10000 % 1111 == 0 for i in range(4)])  # 1111222233334444
    placeholder = (x.is_in(_int_set("placeholders").implode()) | n.str.contains("0000000", literal=True)
                   | pl.any_horizontal(periodic) | blocks | x.is_in(_int_set("sequences").implode()))
    feb = pl.lit(28, dtype=pl.Int32)
    days_in = pl.when(mm == 2).then(None).when(mm.is_in([4, 6, 9, 11])).then(30).otherwise(31).cast(pl.Int32)
    fits20 = day <= pl.coalesce(days_in, feb + (yy % 4 == 0).cast(pl.Int32))  # 2000..2099
    fits19 = day <= pl.coalesce(days_in, feb + ((yy % 4 == 0) & (yy != 0)).cast(pl.Int32))  # 1900 was no leap year
    not_future20 = (2000 + yy) * 10000 + mm * 100 + day <= today.year * 10000 + today.month * 100 + today.day
    real = day.is_between(1, 31) & mm.is_between(1, 12) & ((fits20 & not_future20) | fits19)
    rule = (
        pl.when(n.is_null() | (n == "")).then(pl.lit(NikRule.EMPTY.value))
        .when(~n.str.contains(r"^[0-9]+$")).then(pl.lit(NikRule.CHARACTERS.value))
        .when(n.str.len_bytes() != 16).then(pl.lit(NikRule.LENGTH.value))
        .when(placeholder).then(pl.lit(NikRule.PLACEHOLDER.value))
    )
    for name, k, known in ((NikRule.PROVINCE, 2, "provinces"), (NikRule.KABUPATEN, 4, "kabupaten"),
                           (NikRule.KECAMATAN, 6, "kecamatan")):
        rule = rule.when(~head(k).is_in(_int_set(known).implode())).then(pl.lit(name.value))
    return (
        rule.when(~real).then(pl.lit(NikRule.BIRTH_DATE.value))
        .when(x % 10000 == 0).then(pl.lit(NikRule.SERIAL.value))
        .otherwise(pl.lit(None, dtype=pl.String))
    )


def rule_expr(column: str | pl.Expr, today: date | None = None) -> pl.Expr:
    """The ``NikRule`` value a column of *normalised ASCII* NIKs breaks (null when valid), as ``check`` would
    name it. Arithmetic: a 16-digit NIK is read as an unsigned 64-bit integer and every later rule
    (placeholder patterns, region prefixes, the birth date, the serial) is integer arithmetic on it.
    :func:`check_frame` computes the integer and the date parts once as columns first (an expression that
    repeats them is evaluated again at each use), ~5 M NIKs/s."""
    n = column if isinstance(column, pl.Expr) else pl.col(column)
    x = _as_int(n)
    day, mm, yy = _date_parts(x)
    return _rules(n, x, day, mm, yy, today or date.today())


def normalise_column(values: pl.Series) -> pl.Series:
    """``normalise`` over a column (``nik``): vectorised when it is ASCII, value by value otherwise."""
    raw = values.cast(pl.String)
    frame = pl.DataFrame({"raw": raw})
    ascii_ok = frame.select(pl.col("raw").fill_null("").str.contains(r"^[\x00-\x7f]*$")).to_series()
    if ascii_ok.all():
        return frame.select(normalise_expr("raw").alias("nik")).to_series()
    return pl.Series("nik", [normalise(v) if v is not None else None for v in raw.to_list()], dtype=pl.String)


@functools.lru_cache(maxsize=4)
def _column_rules(today: date) -> pl.Expr:
    """``_rules`` over ``check_frame``'s columns, built once per day: building the expression (hundreds of
    literals) cost more than evaluating it on a work unit's few hundred NIKs."""
    return _rules(pl.col("nik"), pl.col("_x"), pl.col("_day"), pl.col("_mm"), pl.col("_yy"), today).alias("rule")


def check_frame(values: pl.Series, today: date | None = None) -> pl.DataFrame:
    """Normalise and validate a column of raw NIKs: columns ``nik`` (normalised) and ``rule`` (null if valid)."""
    norm = normalise_column(values)
    out = pl.DataFrame({"nik": norm}).with_columns(_as_int(pl.col("nik")).alias("_x"))
    out = out.with_columns(_date_parts(pl.col("_x")))
    out = out.select("nik", _column_rules(today or date.today()))
    return out.with_columns(pl.when(pl.col("nik") == "").then(None).otherwise(pl.col("nik")).alias("nik"))
