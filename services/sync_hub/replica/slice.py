"""The part of the replica a matcher can touch for some students, read through the database's indexes.

``registry_for(session, stu)`` returns a ``matching.frames.Registry`` holding every registry row the
deterministic pass (``matching/deterministic.py``) and the fallback (``matching/fallback.py``) could use for
the students of ``stu`` (a ``matching.frames.students_frame``), so that ``Matcher(registry_for(...),
model=...)`` decides exactly what it decides over the whole replica (``replica.service.load``), without the
whole replica in memory:

1. **keys**: the persons each usable NIK key names (child, mother, father, guardian), the families the KK
   number names (current number, or one a family held before: ``replica_kk_lama``), every member of those
   families (the KK key checks members), their family rows and former KK numbers.
2. **fallback** (only for the students step 1 leaves undecided, as the matcher runs the fallback only for
   them; step 1 is decided with the deterministic pass on the rows of step 1, which are all it reads): every
   person of each block (kabupaten, birth year) the student meets — its kabupaten from the school region,
   the KK number's prefix and the NIK's prefix — one index range on (kab, tanggal_lahir) each; and the
   fallback's other blocking rules (``fallback.RULES``): persons of such a kabupaten with the student's name
   in any order of its words (every permutation looked up on (nama_norm, ...), kab checked), nationwide persons
   with the student's name in any order and its birth date ((nama_norm, tanggal_lahir)), or the mother's name
   and the birth date ((ibu_norm, tanggal_lahir)), and persons of such a kabupaten with the student's mother's
   name (the same index, kab checked); nationwide persons with the name's initials and the birth date
   ((inisial, tanggal_lahir)) — for a student without a key (no NIK digits, no KK number), with the birth date
   and a letter in common with the initials (the rescue rule, ``fallback.RESCUE_RULES``: the 51 initials keys
   sharing a letter, the same index; read for every such student, as whether the rule is needed is known only
   once it is decided) — and, for a
   student without a birth date, persons of such a kabupaten with the name's initials ((kab, inisial)); their
   family rows and former KK numbers.

A block is read whole, so a student meets the same candidates as over the whole replica; persons read for
another reason sit in blocks no student of the slice meets. Persons are in NIK order, as in a whole load, so
ties between candidates fall the same way. The fitted fallback model must be passed to the ``Matcher``
(``model=``): a slice is not what a model is fitted on.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from datetime import date
from typing import Any

import polars as pl
from sqlmodel import Session

from services.sync_hub.matching import deterministic, scalar, scalar_fallback
from services.sync_hub.matching.frames import NIK_KEYS, Registry
from services.sync_hub.replica import repository as repo
from services.sync_hub.replica.models import ReplicaStateRow
from services.sync_hub.replica.service import FAMILIES, KK_LAMA, PERSONS, _frame

_SETTLED = ("PKH_RECIPIENT", "NOT_PKH_RECIPIENT", "IN_REVIEW")  # the matcher runs no fallback for these


def registry_for(session: Session, stu: pl.DataFrame, *, every_block: bool = False) -> Registry:
    """The slice of the replica the matcher can touch for the students ``stu`` (see the module's text).
    ``every_block``: the fallback's rows for every student, not only those the keys leave undecided (what
    fitting a model on these students counts: the candidate pairs of all of them).

    Read set-wise, for a unit's thousands of students: one statement per kind of key (its keys bound as arrays,
    ``repository.person_columns_meeting``), the driver's rows straight into polars columns (no Python object
    per registry row); a person read for two reasons is kept once."""
    seq = _seq(session)
    fams = repo.family_ids_by_keys(session, {v for k in NIK_KEYS for v in stu[k].drop_nulls().to_list()},
                                   set(stu["no_kk"].drop_nulls().to_list()))
    persons = _frame(repo.person_columns(session, fams), PERSONS)
    keys = _slice(session, persons, seq)
    det = None if every_block or stu.is_empty() else deterministic.link(stu, keys)
    need = stu if det is None else stu.filter(
        pl.col("sid").is_in(det.filter(~pl.col("outcome").is_in(_SETTLED))["sid"].implode()))
    out = keys
    if not need.is_empty():
        found = [persons, *(_frame(repo.person_columns_meeting(session, kind, wanted), PERSONS)
                            for kind, wanted in _fallback_keys(need.to_dicts()).items() if wanted)]
        out = _slice(session, pl.concat(found), seq)
    if det is not None:  # the matcher's first pass over ``stu``: the key rows are all it reads (the module's text)
        out._cache[deterministic.KEY_ROWS_LINK] = (stu, det, keys.persons["nik"])
    return out


def _slice(session: Session, persons: pl.DataFrame, seq: int) -> Registry:
    """``_registry`` of the persons of a frame (a person once, in NIK order) and their families."""
    persons = persons.unique("nik", keep="first").sort("nik")  # NIK order, as a whole load (pid = position)
    no_kks = set(persons["no_kk"].drop_nulls().to_list())
    return Registry.build(persons, _frame(repo.family_columns(session, no_kks), FAMILIES),
                          _frame(repo.kk_lama_columns(session, no_kks), KK_LAMA), seq, raw_names=False)


def _fallback_keys(need: list[dict[str, Any]]) -> dict[str, set[tuple[Any, ...]]]:
    """Step 2's keys for the students ``need`` by kind (``repository.PERSON_MEETS``): the fallback's blocks and its
    other blocking rules, keys made one student at a time (``matching.scalar_fallback``'s twins of the fallback's
    key expressions: a check widens for one or a few students, where polars' per-call cost would dominate)."""
    blocks = {(k, date(y, 1, 1), date(y + 1, 1, 1)) for k, y in _blocks(need) if 1 <= y < 9999}
    words = [scalar_fallback.name_words(s["nama"]) for s in need]
    perms = {w: _permutations(w) for w in set(words) if w is not None}
    kabs = _kabs(need)
    initials = [scalar_fallback.name_initials(s["nama"]) for s in need]
    return {
        "block": blocks,
        "nama_kab": {(n, k) for w, ks in zip(words, kabs, strict=True) if w is not None for n in perms[w]
                     for k in ks},
        "nama_birth": {(n, s["dob"]) for w, s in zip(words, need, strict=True) if w is not None
                       and s["dob"] is not None for n in perms[w]},
        "ibu_birth": {(s["ibu"], s["dob"]) for s in need if s["ibu"] != "" and s["dob"] is not None},
        "ibu_kab": {(s["ibu"], k) for s, ks in zip(need, kabs, strict=True) if s["ibu"] for k in ks},
        "initials_birth": {(k, s["dob"]) for i, s in zip(initials, need, strict=True) if i is not None
                           and s["dob"] is not None for k in _initials_keys(i, s)},
        "kab_initials": {(k, i) for i, s, ks in zip(initials, need, kabs, strict=True) if i is not None
                         and s["dob"] is None for k in ks},
    }


def keys_for(session: Session, stu: list[dict[str, Any]], seq: int | None = None
             ) -> tuple[scalar.Keys, Callable[[list[dict[str, Any]]], scalar.Rows]]:
    """For a handful of students (``matching.scalar.students``): the rows of step 1 (the module's text) as the
    scalar pass reads them, and ``widen(need)``: the slice with step 2 for the students ``need`` (the
    ``scalar.students`` rows of those the keys leave undecided) as rows (``scalar.Rows``: its ``registry()`` is the
    registry ``registry_for`` returns for the same students; no frames are built unless asked for). ``widen``
    reads through ``session``: call it while the session is open. ``seq``: the replica's registry sequence when
    the caller has read it (read here otherwise)."""
    seq = _seq(session) if seq is None else seq
    niks, kks = ({s[k] for s in stu for k in NIK_KEYS if s[k] is not None},
                 {s["no_kk"] for s in stu if s["no_kk"] is not None})
    # PostgreSQL: the persons, their families and former numbers in one statement (three otherwise)
    one = repo.slice_by_keys(session, niks, kks)
    persons: dict[str, tuple[Any, ...]] = {}
    if one is not None:
        _add(persons, one[0])
    else:
        persons = _key_persons(session, niks, kks)
    rows = [persons[k] for k in sorted(persons)]  # NIK order, as ``_registry``
    no_kks = {row[1] for row in rows}
    keys = (scalar.Keys(rows, one[1], one[2]) if one is not None else
            scalar.Keys(rows, zip(*repo.family_columns(session, no_kks), strict=True),
                        zip(*repo.kk_lama_columns(session, no_kks), strict=True)))

    def widen(need: list[dict[str, Any]]) -> scalar.Rows:
        wider = dict(persons)
        wanted = _fallback_keys(need)
        # PostgreSQL: step 2's persons and every family of the slice in one statement
        more = repo.slice_meeting(session, wanted, no_kks)
        if more is not None:
            _add(wider, more[0])
            return scalar.Rows([wider[k] for k in sorted(wider)], more[1], more[2], seq)  # NIK order
        _add(wider, repo.person_rows_meeting(session, wanted))  # step 2: one statement
        rows = [wider[k] for k in sorted(wider)]  # NIK order, as ``_registry``
        wider_kks = {row[1] for row in rows}
        return scalar.Rows(rows, list(zip(*repo.family_columns(session, wider_kks), strict=True)),
                           list(zip(*repo.kk_lama_columns(session, wider_kks), strict=True)), seq)

    return keys, widen


def _seq(session: Session) -> int:
    state = session.get(ReplicaStateRow, 1)  # read only: a missing state row is an empty replica
    return state.observed_seq if state is not None else 0


def _key_persons(session: Session, niks: set[str], kks: set[str]) -> dict[str, tuple[Any, ...]]:
    """Step 1: the persons the NIK keys name and every member of their families and of the KK numbers'."""
    persons: dict[str, tuple[Any, ...]] = {}  # a person a NIK names is a member of its family
    _add(persons, repo.person_rows_of(session, repo.family_ids_by_keys(session, niks, kks)))
    return persons


def _initials_keys(ini: str, st: dict[str, Any]) -> set[str]:
    """The initials keys read with a student's birth date: its own ("birth date x initials"), and for a record
    without a key, every key with a letter in common (the rescue rule, ``fallback.RESCUE_RULES``: a superset)."""
    return scalar_fallback.initials_sharing(ini) if scalar_fallback.keyless(st) else {ini}


def _permutations(words: str) -> set[str]:
    return {" ".join(p) for p in itertools.permutations(words.split(" "))}


def _kabs(stu: list[dict[str, Any]]) -> list[set[str]]:
    """Per student, every kabupaten its record names (as the fallback's ``_student_blocks``)."""
    return [{v[:4] for v in (s["wil"], s["no_kk"], s["nik_digits"]) if v is not None and len(v[:4]) == 4}
            for s in stu]


def _add(persons: dict[str, tuple[Any, ...]], rows: Iterable[tuple[Any, ...]]) -> None:
    for row in rows:
        persons[row[0]] = row


def _registry(session: Session, persons: dict[str, tuple[Any, ...]], seq: int) -> Registry:
    rows = [persons[k] for k in sorted(persons)]  # NIK order, as a whole load (pid = position)
    columns: list[tuple[Any, ...]] = list(zip(*rows, strict=True)) if rows else [() for _ in PERSONS]
    no_kks = {row[1] for row in rows}
    return Registry.build(_frame(columns, PERSONS), _frame(repo.family_columns(session, no_kks), FAMILIES),
                          _frame(repo.kk_lama_columns(session, no_kks), KK_LAMA), seq, raw_names=False)


def _undecided(stu: pl.DataFrame, keys: Registry) -> pl.DataFrame:
    """The students the deterministic pass leaves to the fallback (decided on the key rows, all it reads)."""
    if stu.is_empty():
        return stu
    det = deterministic.link(stu, keys)
    return stu.filter(pl.col("sid").is_in(det.filter(~pl.col("outcome").is_in(_SETTLED))["sid"].implode()))


def _blocks(stu: list[dict[str, Any]]) -> set[tuple[str, int]]:
    """(kabupaten, birth year) of every place a record names: the school region, the KK number's and the
    NIK's prefixes (as the fallback's ``_student_blocks``; a superset does no harm)."""
    return {(k, s["dob"].year) for s, ks in zip(stu, _kabs(stu), strict=True) if s["dob"] is not None
            for k in ks if k.isdigit()}
