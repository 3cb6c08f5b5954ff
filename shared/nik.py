"""NIK (Nomor Induk Kependudukan) rules: normalise, validate with a reason, parse, mask.

Layout ``PP KK CC DD MM YY SSSS`` (DOMAIN.md §1.1): region prefix of the kecamatan of first issuance,
birth day (+40 for women), month, two-digit year, serial 0001-9999. There is no check digit, so a
NIK that passes every rule may still belong to somebody else; the hub verifies identity separately.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from shared.regions import known_kabupaten, known_nik_prefixes, provinces

_STRIP = re.compile(r"[\s.\-_/]")
_DIGITS16 = re.compile(r"^\d{16}$")


class NikRule(StrEnum):
    """Why a NIK was rejected. The value is what operators and clients see."""

    EMPTY = "empty"
    LENGTH = "length"  # not 16 characters after normalising
    CHARACTERS = "characters"  # something other than digits
    PLACEHOLDER = "placeholder"  # 1234567890123456, repeated digits, zero padding
    PROVINCE = "unknown_province"
    KABUPATEN = "unknown_kabupaten"
    KECAMATAN = "unknown_kecamatan"
    BIRTH_DATE = "impossible_birth_date"
    SERIAL = "serial_zero"


class Sex(StrEnum):
    L = "L"  # laki-laki
    P = "P"  # perempuan


@dataclass(frozen=True, slots=True)
class ParsedNik:
    nik: str
    prefix: str
    sex: Sex
    birth_date: date
    serial: str


@dataclass(frozen=True, slots=True)
class NikCheck:
    """Result of validating one NIK: ``parsed`` when valid, else the first rule it broke."""

    normalised: str
    rule: NikRule | None
    parsed: ParsedNik | None

    @property
    def valid(self) -> bool:
        return self.rule is None


_FULLWIDTH = str.maketrans({chr(0xFF10 + i): str(i) for i in range(10)})


def normalise(raw: str | None) -> str:
    """Strip spaces, dots, dashes, slashes; map full-width and other Unicode digits to ASCII."""
    if raw is None:
        return ""
    text = unicodedata.normalize("NFKC", str(raw)).translate(_FULLWIDTH)
    text = _STRIP.sub("", text)
    return "".join(str(unicodedata.digit(ch)) if ch.isdigit() and not ch.isascii() else ch for ch in text)


def _is_placeholder(nik: str) -> bool:
    if nik in ("1234567890123456", "0123456789012345", "6543210987654321"):
        return True
    if len(set(nik)) <= 2:  # 1111111111111111, 1212121212121212, 0000000000000000
        return True
    if "0000000" in nik:  # Dapodik strips this run before counting digits: zero-padded fillers
        return True
    # repeated short blocks such as 1111222233334444
    blocks = [nik[i : i + 4] for i in range(0, 16, 4)]
    return all(len(set(b)) == 1 for b in blocks)


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
    nik = normalise(raw)
    if not nik:
        return NikCheck(nik, NikRule.EMPTY, None)
    if not nik.isdigit():
        return NikCheck(nik, NikRule.CHARACTERS, None)
    if len(nik) != 16:
        return NikCheck(nik, NikRule.LENGTH, None)
    if _is_placeholder(nik):
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
