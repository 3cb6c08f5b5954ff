"""The matcher's inputs and deterministic pass for a handful of students, one student at a time over dict lookups.

What a check ("Request Data PKH": 1..100 students) runs instead of the polars batch path
(``frames.students_frame``, ``deterministic.link``, ``members.find_children``): a batch call has a fixed cost of
hundreds of small frame operations (~100 ms), whatever the number of students; here a student costs a few dict
lookups and name comparisons. Runs keep the batch path.

Same rules, same values, no second copy of a rule: NIKs are checked by ``shared.nik.check_normalised`` (the
rules ``shared.nik.check_frame`` vectorises), names normalised by ``shared.names.normalise`` and compared by
``compare.name_similarity_one`` (the same float32 as ``compare.name_similarity``, thresholds compared in float32
as polars and numpy do), with the thresholds, key precedence and texts of ``deterministic``. A property test
(``services/sync_hub/tests/test_matching_scalar.py``) holds both paths equal on generated worlds: every
student's row, every deterministic row (outcome, key, family, child, the texts) and every decision.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import polars as pl

from services.sync_hub.matching.compare import birth_dates_agree_one, name_similarity_one
from services.sync_hub.matching.deterministic import (
    _MISMATCH_ORDER,
    _PARENT,
    CHILD_NAME_OK,
    CHILD_NAME_WEAK,
    PARENT_NAME_OK,
    PRECEDENCE,
)
from services.sync_hub.matching.frames import (
    FAMILY_SCHEMA,
    KK_LAMA_SCHEMA,
    NIK_KEYS,
    PERSON_SCHEMA,
    SAME_AS_NO_KK,
    SHARED_WITH_PARENT,
    Registry,
)
from shared import names
from shared import nik as niks

# thresholds as float32: the batch path compares float32 similarities in float32 (polars and numpy alike)
_CHILD_OK, _CHILD_WEAK, _PARENT_OK = np.float32(CHILD_NAME_OK), np.float32(CHILD_NAME_WEAK), np.float32(PARENT_NAME_OK)
_CODE = {k: i for i, k in enumerate(PRECEDENCE)}
_ORDER = {_CODE[k]: i for i, k in enumerate(_MISMATCH_ORDER)}
_U64 = 2**64

# ``frames.students_frame``'s columns, in its order
STUDENT_SCHEMA: dict[str, Any] = {
    "sid": pl.Int64, "nama": pl.String, "sex": pl.String, "dob": pl.Date, "ibu": pl.String, "ayah": pl.String,
    "wali": pl.String, "wil": pl.String, "nik": pl.String, "rule_nik": pl.String, "nik_digits": pl.String,
    "nik_ibu": pl.String, "rule_nik_ibu": pl.String, "nik_ayah": pl.String, "rule_nik_ayah": pl.String,
    "nik_wali": pl.String, "rule_nik_wali": pl.String, "no_kk": pl.String,
}


def _digits16(value: str | None) -> bool:
    return value is not None and len(value) == 16 and value.isascii() and value.isdigit()


def _u64(value: str | None) -> int | None:
    """A text as polars reads it cast to an unsigned 64-bit integer (``strict=False``): digits only, else None."""
    if not value or not (value.isascii() and value.isdigit()):
        return None
    number = int(value)
    return number if number < _U64 else None


def students(rows: Sequence[Any], today: date | None = None) -> list[dict[str, Any]]:
    """``frames.students_frame`` of ``rows`` (``frames.StudentRow``), one dict per student with the same columns
    and values."""
    today = today or date.today()
    # a column is normalised as ASCII text when all of it is ASCII, value by value otherwise
    # (``shared.nik.normalise_column``): the same for each value here
    cols: dict[str, list[str | None]] = {}
    for key in (*NIK_KEYS, "no_kk"):
        values: list[str | None] = [getattr(r, key) for r in rows]
        ascii_only = all((v or "").isascii() for v in values)
        cols[key] = [None if v is None else niks.normalise_ascii(v) if ascii_only else niks.normalise(v)
                     for v in values]
    out = []
    for i, r in enumerate(rows):
        s: dict[str, Any] = {"sid": i, "nama": names.normalise(r.nama), "sex": r.sex, "dob": r.dob,
                             "ibu": names.normalise(r.nama_ibu), "ayah": names.normalise(r.nama_ayah),
                             "wali": names.normalise(r.nama_wali), "wil": r.wil}
        for key in NIK_KEYS:
            value = cols[key][i] or None  # "" is no value
            rule = niks.check_normalised(value or "", today).rule
            s[key] = value if rule is None else None
            s[f"rule_{key}"] = rule.value if rule is not None else None
            if key == "nik":
                s["nik_digits"] = value if _digits16(value) else None
        kk = cols["no_kk"][i]
        s["no_kk"] = kk if _digits16(kk) else None
        child = s["nik"]
        if child is not None and child == s["no_kk"]:
            s["rule_nik"], s["nik"] = SAME_AS_NO_KK, None
        elif child is not None and any(child == s[k] for k in NIK_KEYS if k != "nik"):
            s["rule_nik"], s["nik"] = SHARED_WITH_PARENT, None
        out.append(s)
    return out


def frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """The students as the batch path's frame (equal to ``frames.students_frame`` of the same records)."""
    return pl.DataFrame(rows, schema=STUDENT_SCHEMA, orient="row") if rows else pl.DataFrame(schema=STUDENT_SCHEMA)


@dataclass(frozen=True, slots=True)
class Person:
    nik: str
    no_kk: str | None
    nama: str
    sex: str | None
    dob: date | None
    ibu: str


@dataclass(frozen=True, slots=True)
class Family:
    no_kk: str
    version: int
    pkh_status: str | None
    pkh_periode: str | None
    no_kks: str | None


def _date(value: Any) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) else value


class Keys:
    """Registry rows as the scalar pass reads them (the rows ``replica.slice.registry_for`` would build a
    ``frames.Registry`` of): persons in NIK order (``pid`` = position, as in the frame), a family's identity is
    its KK number (the batch path's integer family id names the same thing)."""

    def __init__(self, persons: Iterable[tuple[Any, ...]], families: Iterable[tuple[Any, ...]],
                 kk_lama: Iterable[tuple[Any, ...]]) -> None:
        """``persons``: (nik, no_kk, nama normal form, sex, birth date, mother's name normal form, ...) in NIK
        order; ``families``: (no_kk, wil, version, pkh_status, pkh_periode, no_kks); ``kk_lama``: (old_kk, no_kk)."""
        self.persons = [Person(p[0], p[1], p[2] or "", p[3], _date(p[4]), p[5] or "") for p in persons]
        self.families = {f[0]: Family(f[0], f[2], f[3], f[4], f[5]) for f in families}
        self.by_nik: dict[int, list[int]] = {}
        self.members: dict[str, list[int]] = {}
        for pid, p in enumerate(self.persons):
            if (x := _u64(p.nik)) is not None:
                self.by_nik.setdefault(x, []).append(pid)
            if p.no_kk is not None:
                self.members.setdefault(p.no_kk, []).append(pid)
        known = set(self.families) | set(self.members)  # every number a family or a person carries
        self.by_kk: dict[int, list[str]] = {}
        pairs = [(no_kk, no_kk) for no_kk in self.families] + [(old, no_kk) for old, no_kk in kk_lama
                                                                 if no_kk in known]
        for number, no_kk in pairs:
            if (x := _u64(number)) is not None and no_kk not in (held := self.by_kk.setdefault(x, [])):
                held.append(no_kk)

    @classmethod
    def of_rows(cls, rows: Rows) -> Keys:
        """The rows a :class:`Rows` holds (persons in NIK order), as :meth:`of` reads them from its frames."""
        return cls(rows.persons, rows.families, rows.kk_lama)

    @classmethod
    def of(cls, registry: Registry) -> Keys:
        """The rows of a registry frame (persons already in its ``pid`` order)."""
        p, f = registry.persons, registry.families
        return cls(p.select("nik", "no_kk", "nama", "sex", "dob", "ibu").iter_rows(),
                   f.select("no_kk", "wil", "version", "pkh_status", "pkh_periode", "no_kks").iter_rows(),
                   registry.kk_lama.select("old_kk", "no_kk").iter_rows())


class Rows:
    """A slice of the replica as plain rows: what ``frames.Registry.build`` makes frames of, kept as the database
    gave them for a check's few students (building the frames costs more than the scalar fallback itself).
    ``persons``: (nik, no_kk, nama normal form, sex, birth date, mother's name normal form, hubungan) in NIK order
    (``pid`` = position, as in the frame); ``families``: (no_kk, wil, version, pkh_status, pkh_periode, no_kks);
    ``kk_lama``: (old_kk, no_kk). :meth:`registry` builds the frames (once) for the batch path."""

    __slots__ = ("_registry", "families", "kk_lama", "observed_seq", "persons")

    def __init__(self, persons: list[tuple[Any, ...]], families: list[tuple[Any, ...]],
                 kk_lama: list[tuple[Any, ...]], observed_seq: int = 0) -> None:
        self.persons, self.families, self.kk_lama, self.observed_seq = persons, families, kk_lama, observed_seq
        self._registry: Registry | None = None

    def registry(self) -> Registry:
        """The same rows as the matcher's frames (what ``replica.slice.registry_for`` builds of them)."""
        if self._registry is None:
            def frame(rows: list[tuple[Any, ...]], schema: dict[str, Any]) -> pl.DataFrame:
                columns = list(zip(*rows, strict=True)) if rows else [() for _ in schema]
                return pl.DataFrame([pl.Series(name, values, dtype=dtype)
                                     for (name, dtype), values in zip(schema.items(), columns, strict=True)])

            self._registry = Registry.build(
                frame(self.persons, {k: v for k, v in PERSON_SCHEMA.items() if k != "pid"}),
                frame(self.families, FAMILY_SCHEMA), frame(self.kk_lama, KK_LAMA_SCHEMA), self.observed_seq,
                raw_names=False)
        return self._registry

    def with_region(self) -> list[tuple[Any, ...]]:
        """The persons as ``Registry.persons`` holds them: (pid, nik, no_kk, nama, sex, dob, ibu, wil), ``wil``
        the region of the person's family (None without one: the frame's left join)."""
        wil = {f[0]: f[1] for f in self.families}
        return [(pid, p[0], p[1], p[2], p[3], p[4], p[5], wil.get(p[1]) if p[1] is not None else None)
                for pid, p in enumerate(self.persons)]


def _child_ok(s: dict[str, Any], p: Person) -> tuple[bool, str, np.float32]:
    """``deterministic._child_ok`` for one pair: ok, what disagreed when not, the name similarity."""
    sim_name = name_similarity_one(s["nama"], p.nama)
    sim_ibu = name_similarity_one(s["ibu"], p.ibu)
    ok = bool((sim_name >= _CHILD_OK and (birth_dates_agree_one(s["dob"], p.dob) or sim_ibu >= _CHILD_OK))
              or (sim_name >= _CHILD_WEAK and s["dob"] is not None and s["dob"] == p.dob and sim_ibu >= _CHILD_OK))
    return ok, "nama" if sim_name < _CHILD_OK else "tanggal_lahir", sim_name


# a hit: (key code, the child's pid or None, the family's KK number, verified, what disagreed)
_Hit = tuple[int, int | None, str | None, bool, str]


def _nik_hits(s: dict[str, Any], keys: Keys) -> list[_Hit]:
    hits: list[_Hit] = []
    for key in NIK_KEYS:
        x = _u64(s[key])
        for pid in keys.by_nik.get(x, ()) if x is not None else ():
            p = keys.persons[pid]
            if key == "nik":
                ok, disagreed, _ = _child_ok(s, p)
                hits.append((_CODE[key], pid, p.no_kk, ok, disagreed))
                continue
            column, sex, label = _PARENT[key]
            sex_ok = p.sex == sex if sex else True
            ok = bool(sex_ok and name_similarity_one(s[column], p.nama) >= _PARENT_OK)
            hits.append((_CODE[key], None, p.no_kk, ok, label if sex_ok else f"jenis_kelamin of {key}"))
    return hits


def _kk_hits(s: dict[str, Any], keys: Keys) -> list[_Hit]:
    x = _u64(s["no_kk"])
    hits: list[_Hit] = []
    for no_kk in keys.by_kk.get(x, ()) if x is not None else ():
        members = keys.members.get(no_kk, ())
        if not members:
            continue
        any_ok, named = False, []
        for pid in members:
            p = keys.persons[pid]
            ok, _, _ = _child_ok(s, p)
            mother_ok = p.sex == "P" and name_similarity_one(s["ibu"], p.nama) >= _CHILD_OK
            any_ok = any_ok or ok or bool(mother_ok)
            if ok and birth_dates_agree_one(s["dob"], p.dob):
                named.append(pid)
        hits.append((_CODE["no_kk"], named[0] if len(named) == 1 else None, no_kk, any_ok, "no member agrees"))
    return hits


def _first(verified: list[_Hit], codes: tuple[int, ...], value: int) -> Any:
    """The value (tuple position) of the verified hit with the first of ``codes`` by precedence (the batch
    path's ``_by_precedence``: of several hits of one key, the last)."""
    for code in sorted(codes):
        found = [h[value] for h in verified if h[0] == code]
        if found:
            return found[-1]
    return None


def link(stu: list[dict[str, Any]], keys: Keys) -> list[dict[str, Any]]:
    """``deterministic.link`` of the students ``stu`` (:func:`students`), one row per student with its columns
    (``pid``: a position in ``keys.persons``)."""
    out = []
    everyone = tuple(_CODE.values())
    for s in stu:
        hits = _nik_hits(s, keys)
        if not any(ok and code <= _CODE["nik_ibu"] for code, _, _, ok, _ in hits):
            hits += _kk_hits(s, keys)
        verified = [h for h in hits if h[3]]
        codes = [h[0] for h in verified]
        decided = min(codes) if codes else None
        fid = _first(verified, everyone, 2)
        fid_nik, fid_ibu = _first(verified, (_CODE["nik"],), 2), _first(verified, (_CODE["nik_ibu"],), 2)
        pid = _first([h for h in verified if h[1] is not None], (_CODE["nik"], _CODE["no_kk"]), 1)
        two_families = fid_nik is not None and fid_ibu is not None and fid_nik != fid_ibu
        conflict = two_families or codes.count(_CODE["no_kk"]) > 1
        failed = sorted((h for h in hits if not h[3]), key=lambda h: _ORDER[h[0]])
        texts = list(dict.fromkeys(f"{PRECEDENCE[h[0]]}: {h[4]} disagrees" for h in failed))
        found = any(h[0] != _CODE["no_kk"] for h in failed)
        elsewhere = sorted(h[0] for h in verified if h[2] != fid)
        rules = [(k, s[f"rule_{k}"]) for k in NIK_KEYS if s[f"rule_{k}"] is not None and s[f"rule_{k}"] != "empty"]
        family = keys.families.get(fid) if fid is not None else None
        pkh = family.pkh_status if family is not None else None
        if conflict:
            outcome = "IN_REVIEW"
        elif decided is not None:
            outcome = "PKH_RECIPIENT" if pkh == "AKTIF" else "NOT_PKH_RECIPIENT"
        elif texts and found:
            outcome = "NIK_MISMATCH"
        elif any(s[k] is not None for k in NIK_KEYS):
            outcome = "NOT_REGISTERED"
        elif rules:
            outcome = "NIK_INVALID"
        else:
            outcome = "NO_NIK"
        out.append({
            "sid": s["sid"], "outcome": outcome,
            "matched_by": None if conflict or decided is None else PRECEDENCE[decided],
            "no_kk": fid, "pid": pid, "other_no_kk": fid_ibu if two_families else None,
            "invalid": "; ".join(f"{k}: {rule}" for k, rule in rules) or None,
            "mismatch": "; ".join(texts) or None,
            "notes": "; ".join(f"{PRECEDENCE[c]} verified in another family" for c in elsewhere) or None,
            **{k: s[k] for k in NIK_KEYS}})
    return out


def find_children(stu: list[dict[str, Any]], wanted: dict[int, str], keys: Keys) -> dict[int, str]:
    """``members.find_children`` over ``keys``: per student position, the NIK of its member in the family named,
    where exactly one stands out."""
    out: dict[int, str] = {}
    for sid, no_kk in wanted.items():
        s = stu[sid]
        passing = []
        for pid in keys.members.get(no_kk, ()):
            p = keys.persons[pid]
            sim = name_similarity_one(s["nama"], p.nama)
            if sim >= _CHILD_OK and birth_dates_agree_one(s["dob"], p.dob):
                passing.append((s["dob"] is not None and s["dob"] == p.dob, sim, p.nik))
        if len(passing) == 1:
            out[sid] = passing[0][2]
        elif passing:
            passing.sort(key=lambda c: (c[0], c[1]), reverse=True)
            if passing[0][:2] != passing[1][:2]:
                out[sid] = passing[0][2]
    return out
