"""The validation rules of a ``peserta_didik`` record (pure): each finding names the field, a rule code and
its class, like Dapodik's validator (``vld_peserta_didik`` rows referencing ``ref.errortype``).

Classes (``status_validasi``): 1 = warning, 2 = invalid. The line between them is drawn by one question:
could sending the record to the hub *link the child to the wrong family or write a wrong value*? Then it is
invalid and the record is held back until the operator fixes it: it still reaches the hub, with its findings,
and the hub links it only on the keys no INVALID finding names (its own NIK rules drop exactly those keys:
``tests/test_held_back_keys.py``), so the child still gets an outcome, and its PKH status through the KK number
or a parent's NIK. Otherwise it is a warning: the hub checks every NIK itself and verifies the identity of
every hit, so an empty or doubtful NIK only costs a match.

* invalid: a child's NIK that is not a NIK at all (not 16 digits, a placeholder such as
  1234567890123456), the KK number typed as the child's NIK, the child's NIK equal to a parent's, a NISN
  that is not 10 digits, characters outside ``[A-Za-z ',.-]`` in the child's or the mother's name, no
  mother's name;
* warning: no NIK for the child or the mother, a 16-digit NIK whose region or date cannot be read (region
  codes change; a new kecamatan is not an error of the school), a NIK whose birth date or sex disagrees
  with the record (common and not necessarily wrong, DOMAIN.md §1.2), parents' NIKs that break a rule, the
  KK number typed as a parent's NIK, one NIK for both parents, a malformed or missing KK number,
  characters outside the rule in the father's or guardian's name.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, NamedTuple

import polars as pl

from shared.contracts.dapodik import StatusValidasi
from shared.nik import NikCheck, NikRule, Sex, birth_date_of, check, check_frame


@dataclass(frozen=True, slots=True)
class Rule:
    idtype: int
    kode: str
    status: StatusValidasi
    keterangan: str


WARN, INV = StatusValidasi.WARNING, StatusValidasi.INVALID
_RULES = (
    Rule(101, "nik_format", INV, "NIK peserta didik harus 16 digit angka"),
    Rule(102, "nik_placeholder", INV, "NIK peserta didik berisi angka isian (1234567890123456, angka berulang, "
                                    "0000000)"),
    Rule(103, "nik_sama_no_kk", INV, "NIK peserta didik sama dengan nomor KK (KK diketik sebagai NIK)"),
    Rule(104, "nik_sama_orang_tua", INV, "NIK peserta didik sama dengan NIK ayah, ibu atau wali"),
    Rule(105, "nik_kosong", WARN, "NIK peserta didik belum diisi"),
    Rule(106, "nik_tidak_terbaca", WARN, "kode wilayah atau tanggal pada NIK tidak dikenal"),
    Rule(107, "nik_tanggal_lahir_beda", WARN, "tanggal lahir pada NIK berbeda dari tanggal_lahir"),
    Rule(108, "nik_jenis_kelamin_beda", WARN, "jenis kelamin pada NIK berbeda dari jenis_kelamin"),
    Rule(111, "nisn_format", INV, "NISN harus 10 digit angka (kosongkan bila belum ada)"),
    Rule(121, "nama_karakter", INV, "nama hanya boleh berisi huruf, spasi dan tanda ' , . -"),
    Rule(122, "nama_ibu_kosong", INV, "nama ibu kandung wajib diisi"),
    Rule(123, "nama_ibu_karakter", INV, "nama ibu kandung hanya boleh berisi huruf, spasi dan tanda ' , . -"),
    Rule(124, "nama_ayah_karakter", WARN, "nama ayah hanya boleh berisi huruf, spasi dan tanda ' , . -"),
    Rule(125, "nama_wali_karakter", WARN, "nama wali hanya boleh berisi huruf, spasi dan tanda ' , . -"),
    Rule(131, "nik_ibu_kosong", WARN, "NIK ibu belum diisi (kunci utama pencocokan PKH)"),
    Rule(132, "nik_orang_tua_tidak_valid", WARN, "NIK ayah, ibu atau wali tidak valid"),
    Rule(133, "nik_orang_tua_sama_no_kk", WARN, "NIK ayah, ibu atau wali sama dengan nomor KK"),
    Rule(134, "nik_ayah_sama_nik_ibu", WARN, "NIK ayah sama dengan NIK ibu"),
    Rule(141, "no_kk_format", WARN, "nomor KK harus 16 digit angka"),
    Rule(142, "no_kk_kosong", WARN, "nomor KK belum diisi"),
)
RULES: dict[str, Rule] = {r.kode: r for r in _RULES}
assert len({r.idtype for r in _RULES}) == len(_RULES)

_NAME = re.compile(r"^[A-Za-z ',.-]*$")
_NISN = re.compile(r"^\d{10}$")
_DIGITS16 = re.compile(r"^\d{16}$")
PARENT_NIKS = ("nik_ayah", "nik_ibu", "nik_wali")
# The record fields the rules read: a change to any other field cannot change the findings.
FIELDS = ("nik", "no_kk", "nisn", "nama", "jenis_kelamin", "tanggal_lahir", "nama_ayah", "nik_ayah",
          "nama_ibu_kandung", "nik_ibu", "nama_wali", "nik_wali")


@dataclass(frozen=True, slots=True)
class Finding:
    """One finding: which field broke which rule, and why (``detail`` adds what was seen, never the value)."""

    rule: Rule
    field: str
    detail: str = ""

    @property
    def message(self) -> str:
        return f"{self.rule.keterangan}{f' ({self.detail})' if self.detail else ''}"


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


Checker = Callable[[str], "NikCheck | _Checked"]


def _child_nik(rec: Mapping[str, Any], out: list[Finding], check: Checker) -> None:
    raw = rec.get("nik")
    if _blank(raw):
        out.append(Finding(RULES["nik_kosong"], "nik"))
        return
    nik = check(raw)
    if nik.rule in (NikRule.LENGTH, NikRule.CHARACTERS):
        out.append(Finding(RULES["nik_format"], "nik", f"{len(nik.normalised)} karakter, aturan {nik.rule.value}"))
    elif nik.rule is NikRule.PLACEHOLDER:
        out.append(Finding(RULES["nik_placeholder"], "nik"))
    elif nik.rule is not None:
        out.append(Finding(RULES["nik_tidak_terbaca"], "nik", f"aturan {nik.rule.value}"))
    key = nik.normalised
    if not _blank(rec.get("no_kk")) and key == check(rec["no_kk"]).normalised:
        out.append(Finding(RULES["nik_sama_no_kk"], "nik"))
    same = [f for f in PARENT_NIKS if not _blank(rec.get(f)) and check(rec[f]).normalised == key]
    if same:
        out.append(Finding(RULES["nik_sama_orang_tua"], "nik", f"sama dengan {', '.join(same)}"))
    if nik.parsed is not None:
        born = rec.get("tanggal_lahir")
        if isinstance(born, date) and nik.parsed.birth_date != born:
            out.append(Finding(RULES["nik_tanggal_lahir_beda"], "nik"))
        sex = rec.get("jenis_kelamin")
        if sex in ("L", "P") and nik.parsed.sex.value != sex:
            out.append(Finding(RULES["nik_jenis_kelamin_beda"], "nik"))


def _parent_niks(rec: Mapping[str, Any], out: list[Finding], check: Checker) -> None:
    if _blank(rec.get("nik_ibu")):
        out.append(Finding(RULES["nik_ibu_kosong"], "nik_ibu"))
    kk = None if _blank(rec.get("no_kk")) else check(rec["no_kk"]).normalised
    for name in PARENT_NIKS:
        if _blank(rec.get(name)):
            continue
        nik = check(rec[name])
        if nik.rule is not None:
            out.append(Finding(RULES["nik_orang_tua_tidak_valid"], name, f"aturan {nik.rule.value}"))
        if kk is not None and nik.normalised == kk:
            out.append(Finding(RULES["nik_orang_tua_sama_no_kk"], name))
    ayah, ibu = rec.get("nik_ayah"), rec.get("nik_ibu")
    if not _blank(ayah) and not _blank(ibu) and check(ayah).normalised == check(ibu).normalised:
        out.append(Finding(RULES["nik_ayah_sama_nik_ibu"], "nik_ayah"))


def _kk(rec: Mapping[str, Any], out: list[Finding], check: Checker) -> None:
    raw = rec.get("no_kk")
    if _blank(raw):
        out.append(Finding(RULES["no_kk_kosong"], "no_kk"))
    elif not _DIGITS16.match(check(raw).normalised):
        out.append(Finding(RULES["no_kk_format"], "no_kk"))


def _names(rec: Mapping[str, Any], out: list[Finding]) -> None:
    if not _NAME.match(rec.get("nama") or ""):
        out.append(Finding(RULES["nama_karakter"], "nama"))
    mother = rec.get("nama_ibu_kandung")
    if _blank(mother):
        out.append(Finding(RULES["nama_ibu_kosong"], "nama_ibu_kandung"))
    elif not _NAME.match(mother):
        out.append(Finding(RULES["nama_ibu_karakter"], "nama_ibu_kandung"))
    for field, kode in (("nama_ayah", "nama_ayah_karakter"), ("nama_wali", "nama_wali_karakter")):
        if not _NAME.match(rec.get(field) or ""):
            out.append(Finding(RULES[kode], field))


def _memo_check() -> Checker:
    """``shared.nik.check``, each value checked once."""
    memo: dict[str, NikCheck] = {}

    def checker(raw: str) -> NikCheck:
        found = memo.get(raw)
        if found is None:
            found = memo[raw] = check(raw)
        return found

    return checker


def validate(rec: Mapping[str, Any], checker: Checker | None = None) -> list[Finding]:
    """Every finding of one record (the fields of ``FIELDS``), in a stable order. ``checker`` answers as
    ``shared.nik.check`` does (default: it; ``validate_many`` passes precomputed checks)."""
    checker = checker or _memo_check()
    out: list[Finding] = []
    _child_nik(rec, out, checker)
    nisn = rec.get("nisn")
    if not _blank(nisn) and not _NISN.match(nisn):
        out.append(Finding(RULES["nisn_format"], "nisn"))
    _names(rec, out)
    _parent_niks(rec, out, checker)
    _kk(rec, out, checker)
    return out


NIK_FIELDS = ("nik", "no_kk", *PARENT_NIKS)
_PLAIN16 = re.compile(r"[0-9]{16}")
_NIK_RULES = {r.value: r for r in NikRule}


class _Parsed(NamedTuple):
    """What ``validate`` reads of a ``shared.nik.ParsedNik`` (a tuple: cheap to make by the hundred thousand)."""

    sex: Sex
    birth_date: date


class _Checked(NamedTuple):
    """What ``validate`` reads of a ``shared.nik.NikCheck``."""

    normalised: str
    rule: NikRule | None
    parsed: _Parsed | None


def checks_of(values: Iterable[str], today: date | None = None) -> dict[str, NikCheck | _Checked]:
    """``shared.nik.check`` of every distinct value, the plain 16-digit ones at once (``check_frame``: integer
    arithmetic over the column, held equal to ``check`` by its property test; sex and birth date of a valid
    NIK read off its digits as ``check`` does), any other value one by one with ``check``."""
    distinct = set(values)
    plain = [v for v in distinct if _PLAIN16.fullmatch(v)]
    out: dict[str, NikCheck | _Checked] = {v: check(v, today) for v in distinct if not _PLAIN16.fullmatch(v)}
    if plain:
        today = today or date.today()
        found = check_frame(pl.Series("nik", plain, dtype=pl.String), today)["rule"].to_list()
        births: dict[str, _Parsed] = {}  # DDMMYY -> sex and birth date (few distinct ones)
        for nik, rule in zip(plain, found, strict=True):
            if rule is not None:
                out[nik] = _Checked(nik, _NIK_RULES[rule], None)
                continue
            ddmmyy = nik[6:12]
            birth = births.get(ddmmyy)
            if birth is None:
                dd = int(nik[6:8])
                born = birth_date_of(dd - 40 if dd > 40 else dd, int(nik[8:10]), int(nik[10:12]), today)
                assert born is not None  # check_frame found the date real
                birth = births[ddmmyy] = _Parsed(Sex.P if dd > 40 else Sex.L, born)
            out[nik] = _Checked(nik, None, birth)
    return out


def validate_many(records: Sequence[Mapping[str, Any]]) -> list[list[Finding]]:
    """``validate`` of each record, the NIK and KK checks of all of them computed together first."""
    checks = checks_of(v for rec in records for name in NIK_FIELDS if isinstance(v := rec.get(name), str))
    return [validate(rec, checks.__getitem__) for rec in records]


def status_of(findings: list[Finding]) -> StatusValidasi:
    return max((f.rule.status for f in findings), default=StatusValidasi.VALID)
