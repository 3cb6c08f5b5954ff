"""The fallback (``fallback.run``) for a handful of students, without polars: what a check runs for the students
its keys leave undecided.

``fallback.run`` pays a fixed cost of hundreds of small polars operations (~45 ms) whatever the number of
students: a check's one to few students against a slice of a few hundred persons spend nearly all of it there.
Here the same steps run over Python rows and small numpy arrays, with the same decisions:

* the candidates: the same blocking rules (``fallback.RULES``) as dict lookups over the slice's persons, each
  pair once, in the segments the batch path's blocks score (``fallback.summarise``: one student against one
  (kabupaten, birth year) block, or against all its pairs of the other rules; cut by ``fallback.SMALL_BLOCK_PAIRS``
  and ``fallback.BATCH_PAIRS``) and in the same order, so ties are broken alike;
* the comparison columns (``levels.Side``) built from Python values by :func:`side` (the twin of the polars
  ``levels.side``: NIK and birth date packed one digit per nibble, regions read as polars casts them), then the
  very same level arithmetic (``levels.pair_codes``) and weights (the model's pattern weights and decision prior);
* per segment the best candidate, the best of another family and the best sibling (``fallback.segment_summary``),
  and per student the band, margin, veto and tie rules of ``fallback.decide``, in Python.

A property test (``services/sync_hub/tests/test_matching_scalar.py``) holds :func:`run` equal to ``fallback.run``
on generated worlds with every field error worldgen makes; ``test_scalar_fallback.py`` holds each twin equal to
its polars expression on awkward inputs.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable
from datetime import date
from typing import Any

import numpy as np

from services.sync_hub.matching import fallback, levels
from services.sync_hub.matching.frames import NOT_THE_CHILDS, Registry
from services.sync_hub.matching.scalar import Rows, _digits16

_EPOCH = date(1970, 1, 1)
_INT = re.compile(r"[+-]?[0-9]+")  # what polars casts to an integer (strict=False): ASCII digits, one sign
_I64 = 2**63


def as_int64(value: str | None) -> int | None:
    """A text cast to Int64 as polars casts it (``strict=False``): an optional sign and ASCII digits, in range."""
    if value is None or not _INT.fullmatch(value):
        return None
    number = int(value)
    return number if -_I64 <= number < _I64 else None


def sorted_words(name: str) -> str:
    """``levels.sorted_words`` of one name."""
    return " ".join(sorted(name.split(" ")))


def name_words(name: str | None) -> str | None:
    """``fallback.name_words`` of one name."""
    if not name or name.count(" ") >= fallback.MAX_WORDS:
        return None
    return sorted_words(name)


def name_initials(name: str | None) -> str | None:
    """``fallback.name_initials`` of one name: the first letters of its first and last words, in alphabetical
    order."""
    if name is None:
        return None
    words = name.split()  # runs of non-whitespace, as ``\S+`` finds them (both by ``str.isspace``)
    if not words:
        return None
    return "".join(sorted((words[0][0], words[-1][0])))


def keyless(st: dict[str, Any]) -> bool:
    """``fallback.rescued`` of one student (a ``scalar.students`` or ``students_frame`` row): no KK number and no NIK
    digits (none, or a placeholder, the KK number or a parent's NIK typed as the child's)."""
    return st["no_kk"] is None and (st["nik_digits"] is None or st["rule_nik"] in NOT_THE_CHILDS)


def initials_sharing(ini: str) -> set[str]:
    """Every initials key (``name_initials``: two letters of a normalised name, ``[a-z]``, sorted) with a letter in
    common with ``ini``: the keys the rescue rule (``fallback.RESCUE_RULES``) reaches, 51 for two letters."""
    return {"".join(sorted((a, b))) for a in set(ini) for b in string.ascii_lowercase}


_TYPES = {"ibu_missing": np.bool_, "nama_missing": np.bool_, "days": np.int32, "yr": np.int16, "mon": np.int8,
          "day": np.int8, "sex": np.int8, "kec": np.int64, "kab": np.int64, "nik": np.uint64, "has_nik": np.bool_,
          "dd": np.int16, "ymd": np.uint64, "kk": np.int64, "kk_old": np.int64}
_EPOCH_DAY = _EPOCH.toordinal()
_SEX = {"L": 0, "P": 1}
_NIBBLES = [(10**i, np.uint64(4 * i)) for i in range(8)]


def _ints(values: list[str | None], cut: int | None = None) -> list[int]:
    """``as_int64`` of each value (its first ``cut`` characters), -1 where None; each distinct value cast once."""
    cast = {v: as_int64(v if cut is None or v is None else v[:cut]) for v in set(values)}
    return [-1 if (x := cast[v]) is None else x for v in values]


def side(rows: Iterable[tuple[Any, ...]], missing_day: int, nsort: list[str] | None = None) -> levels.Side:
    """``levels.side`` of rows (nama, ibu, dob, sex, wil, nik, kk, kk_old), built in Python: the same arrays,
    column by column (a distinct region or KK number cast once). ``nsort``: each name's words sorted
    (``sorted_words``) when the caller has them."""
    rows = list(rows)
    nama = [r[0] or "" for r in rows]
    ibu = [r[1] or "" for r in rows]
    dobs = [r[2] for r in rows]
    wil = [r[4] or "" for r in rows]
    niks = [r[5] for r in rows]
    has = [_digits16(n) for n in niks]  # polars: ``^[0-9]{16}$``
    cols: dict[str, Any] = {
        "ibu_missing": [b == "" for b in ibu], "nama_missing": [n == "" for n in nama],
        "days": [missing_day if d is None else d.toordinal() - _EPOCH_DAY for d in dobs],
        "yr": [-1 if d is None else d.year for d in dobs], "mon": [-1 if d is None else d.month for d in dobs],
        "day": [-1 if d is None else d.day for d in dobs], "sex": [_SEX.get(r[3], -1) for r in rows],
        "kec": _ints(wil, 6), "kab": _ints(wil, 4),
        "nik": [int(n, 16) if h else 0 for n, h in zip(niks, has, strict=True)], "has_nik": has,
        "dd": [int(n[6:8]) if h else 0 for n, h in zip(niks, has, strict=True)],
        "kk": _ints([r[6] for r in rows]), "kk_old": _ints([r[7] for r in rows]),
    }
    arrays = {f: np.array(cols[f], dtype=_TYPES[f]) for f in levels._ARRAYS if f != "ymd"}
    # the birth date's digits (yyyymmdd, < 10**8) one per nibble; 0 where missing
    ymd = np.array([0 if d is None else d.year * 10_000 + d.month * 100 + d.day for d in dobs], dtype=np.int64)
    packed = np.zeros(len(rows), dtype=np.uint64)
    for scale, shift in _NIBBLES:
        packed |= ((ymd // scale) % 10).astype(np.uint64) << shift
    arrays["ymd"] = packed
    return levels.Side(nama=nama, nsort=[sorted_words(n) for n in nama] if nsort is None else nsort, ibu=ibu,
                       **arrays)


class Slice:
    """The registry's persons as the fallback reads them (``fallback.summarise``'s registry): in block order (kabupaten,
    birth year, pid; missing last), with their comparison columns and blocking keys."""

    def __init__(self, reg: Registry | Rows, students: list[dict[str, Any]] | None = None) -> None:
        """``students``: the only students the slice will be asked about (``run``'s rows), when known: the blocking
        keys none of them can look up (``_found``, ``_rescue_segments``) are then left out — a key's positions are
        the same either way, only keys no lookup reaches are missing. None: every key (a registry's slice, kept
        for later calls)."""
        if isinstance(reg, Rows):  # the same values as the frames of ``reg.registry()`` hold
            lama: Iterable[tuple[Any, ...]] = reg.kk_lama
            rows = reg.with_region()
        else:
            lama = reg.kk_lama.select("old_kk", "no_kk").iter_rows()
            rows = list(reg.persons.select("pid", "nik", "no_kk", "nama", "sex", "dob", "ibu", "wil").iter_rows())
        old: dict[str, str | None] = {}
        for old_kk, no_kk in lama:
            old[no_kk] = old_kk  # the last one (``group_by("no_kk").agg(last)``)

        # each row with its (kabupaten, birth year), in block order
        kab_yr = [((r[7][:4] if r[7] is not None else None), (r[5].year if r[5] is not None else None))
                  for r in rows]
        order = sorted(range(len(rows)), key=lambda i: (kab_yr[i][0] is None, kab_yr[i][0] or "",
                                                         kab_yr[i][1] is None, kab_yr[i][1] or 0, rows[i][0]))
        rows = [rows[i] for i in order]
        self.kab_yr: list[tuple[str | None, int | None]] = [kab_yr[i] for i in order]
        self.pid = np.array([r[0] for r in rows], dtype=np.int64)
        self.no_kk: list[str | None] = [r[2] for r in rows]
        families: dict[str | None, int] = {None: -1}
        self.fid = np.array([families.setdefault(r[2], len(families)) for r in rows], dtype=np.int64)
        nsort = [sorted_words(r[3] or "") for r in rows]  # the side's and ``name_words``' (one sort per name)
        self.side = side(((r[3], r[6], r[5], r[4], r[7], r[1], r[2], old.get(r[2]) if r[2] is not None else None)
                          for r in rows), levels.OTHER_MISSING_DAY, nsort)
        self.blocks: dict[tuple[str, int], tuple[int, int]] = {}
        self.keys: dict[str, dict[tuple[Any, Any], list[int]]] = {k: {} for k in (
            "kab_words", "words_dob", "ibu_dob", "kab_ibu", "ini_dob", "kab_ini", "letter_dob")}
        kab_words, words_dob, ibu_dob, kab_ibu, ini_dob, kab_ini, letter_dob = self.keys.values()
        # what ``students`` look up (None: anything): their name words, mothers' names and birth dates; the
        # (kabupaten, initials) rule only for a student without a birth date
        wanted_words = wanted_ibu = wanted_dob = None
        any_ini_kab = True
        if students is not None:
            wanted_words = {name_words(st["nama"]) for st in students} - {None}
            wanted_ibu = {st["ibu"] for st in students if st["ibu"]}
            wanted_dob = {st["dob"] for st in students if st["dob"] is not None}
            any_ini_kab = any(st["dob"] is None for st in students)
        for pos, (r, (kab, yr)) in enumerate(zip(rows, self.kab_yr, strict=True)):
            if kab is not None and yr is not None:
                start, _ = self.blocks.get((kab, yr), (pos, pos))
                self.blocks[(kab, yr)] = (start, pos + 1)
            nama, ibu, dob = r[3], r[6], r[5]
            words = nsort[pos] if nama and nama.count(" ") < fallback.MAX_WORDS else None  # ``name_words``
            words_wanted = words is not None and (wanted_words is None or words in wanted_words)
            ibu_wanted = ibu is not None and (wanted_ibu is None or ibu in wanted_ibu)
            dob_wanted = dob is not None and (wanted_dob is None or dob in wanted_dob)
            ini = name_initials(nama) if dob_wanted or (any_ini_kab and kab is not None) else None
            if kab is not None:
                if words_wanted:
                    kab_words.setdefault((kab, words), []).append(pos)
                if ibu_wanted:
                    kab_ibu.setdefault((kab, ibu), []).append(pos)
                if ini is not None and any_ini_kab:
                    kab_ini.setdefault((kab, ini), []).append(pos)
            if dob_wanted:
                if words_wanted:
                    words_dob.setdefault((words, dob), []).append(pos)
                if ibu_wanted:
                    ibu_dob.setdefault((ibu, dob), []).append(pos)
                if ini is not None:
                    ini_dob.setdefault((ini, dob), []).append(pos)
                    # the rescue rule (``fallback.RESCUE_RULES``): each of the initials' (one or two) letters
                    letter_dob.setdefault((ini[0], dob), []).append(pos)
                    if ini[1] != ini[0]:
                        letter_dob.setdefault((ini[1], dob), []).append(pos)


def _slice(reg: Registry | Rows, students: list[dict[str, Any]]) -> Slice:
    if isinstance(reg, Rows):  # a check's or a unit's rows: made for this one call, for these students
        return Slice(reg, students)
    cached = reg._cache.get("scalar_fallback")
    if isinstance(cached, Slice):
        return cached
    out = Slice(reg)
    reg._cache["scalar_fallback"] = out
    return out


_TABLES: list[tuple[fallback.Model, tuple[Any, ...], np.ndarray]] = []


def _table(model: fallback.Model) -> np.ndarray:
    """The model's weight (bits, decision prior included) of every pattern code, as ``fallback.summarise``
    computes it, kept for the model object while its parameters hold still (a check reuses the stored model)."""
    state = (model.prior, model.record_share, model.stats.get("registry_persons"), id(model.m), id(model.u))
    for held, held_state, table in _TABLES:
        if held is model and held_state == state:
            return table
    table = model.pattern_weights() + model.decision_prior_weight()
    _TABLES[:] = [(model, state, table)]
    return table


def _segments(stu: list[dict[str, Any]], s: Slice) -> list[tuple[int, list[int]]]:
    """(student row, registry positions) per segment, in the order the batch path scores them
    (``fallback.summarise``): the (kabupaten, birth year) blocks by position, a block of
    ``fallback.SMALL_BLOCK_PAIRS`` pairs or more at once and smaller ones gathered into units of
    ``fallback.BATCH_PAIRS`` pairs, then each student's pairs of the other rules."""
    kabs_of: list[set[str]] = []
    blocked: list[set[tuple[str, int]]] = []  # the blocks a student meets (none without a birth year)
    groups: dict[tuple[str, int], list[int]] = {}
    for row, st in enumerate(stu):
        kabs = {v[:4] for v in (st["wil"], st["no_kk"], st["nik_digits"]) if v is not None and len(v[:4]) == 4}
        yr = st["dob"].year if st["dob"] is not None else None
        kabs_of.append(kabs)
        blocked.append({(k, yr) for k in kabs} if yr is not None else set())
        for key in blocked[-1]:
            if key in s.blocks:
                groups.setdefault(key, []).append(row)
    out: list[tuple[int, list[int]]] = []
    small: list[tuple[list[int], int, int]] = []
    size = 0

    def flush() -> None:
        for rows, start, end in small:
            out.extend((row, list(range(start, end))) for row in rows)

    for key in sorted(groups, key=lambda k: s.blocks[k][0]):
        rows, (start, end) = groups[key], s.blocks[key]
        if len(rows) * (end - start) >= fallback.SMALL_BLOCK_PAIRS:
            out.extend((row, list(range(start, end))) for row in rows)
            continue
        small.append((rows, start, end))
        size += len(rows) * (end - start)
        if size >= fallback.BATCH_PAIRS:
            flush()
            small, size = [], 0
    flush()
    for row, st in enumerate(stu):
        found = _found(st, s, kabs_of[row])
        extra = sorted(p for p in found if s.kab_yr[p] not in blocked[row])  # a block already holds the rest
        if extra:
            out.append((row, extra))
    return out


def _found(st: dict[str, Any], s: Slice, kabs: set[str]) -> set[int]:
    """The registry positions the other rules (``fallback.RULES`` but the first) find for one student."""
    words, ini, dob = name_words(st["nama"]), name_initials(st["nama"]), st["dob"]
    ibu = st["ibu"] or None
    found: set[int] = set()
    for rule, key in (("kab_words", [(k, words) for k in kabs]), ("words_dob", [(words, dob)]),
                      ("ibu_dob", [(ibu, dob)]), ("kab_ibu", [(k, ibu) for k in kabs]),
                      ("ini_dob", [(ini, dob)]), ("kab_ini", [(k, ini) for k in kabs] if dob is None else [])):
        for a, b in key:
            if a is not None and b is not None:
                found.update(s.keys[rule].get((a, b), ()))
    return found


def _rescue_segments(stu: list[dict[str, Any]], s: Slice, rows: list[int]) -> list[tuple[int, list[int]]]:
    """(student row, registry positions) of the rescue rule (``fallback.RESCUE_RULES``: the same birth date and a
    letter in common between the initials) for the students ``rows``, less the pairs the other rules hold, one
    segment per student, after every other segment (as ``fallback.run`` scores them)."""
    out: list[tuple[int, list[int]]] = []
    for row in rows:
        st = stu[row]
        ini, dob = name_initials(st["nama"]), st["dob"]
        if ini is None or dob is None:
            continue
        kabs = {v[:4] for v in (st["wil"], st["no_kk"], st["nik_digits"]) if v is not None and len(v[:4]) == 4}
        blocked = {(k, dob.year) for k in kabs}
        seen = _found(st, s, kabs)
        new = sorted({p for letter in set(ini) for p in s.keys["letter_dob"].get((letter, dob), ())
                      if p not in seen and s.kab_yr[p] not in blocked})
        if new:
            out.append((row, new))
    return out


def run(stu: list[dict[str, Any]], reg: Registry | Rows, model: fallback.Model,
        settings: fallback.Settings | None = None) -> list[dict[str, Any]]:
    """``fallback.run(frame(stu), reg, model, settings).decisions`` as rows (``fallback.DECISION_SCHEMA``'s
    columns, ``sid`` order; ``stu``: ``scalar.students`` rows, ``sid`` their position in the frame). ``reg``: the
    registry's frames, or its rows (``scalar.Rows``: ``reg.registry()``'s decisions, without building frames)."""
    settings = settings or fallback.Settings()
    if not stu or not (len(reg.persons) if isinstance(reg, Rows) else reg.persons.height):
        return []
    stu = [{**st, "nik_digits": None if st["rule_nik"] in NOT_THE_CHILDS else st["nik_digits"]} for st in stu]
    s = _slice(reg, stu)
    students = side(((st["nama"], st["ibu"], st["dob"], st["sex"], st["wil"], st["nik_digits"], st["no_kk"], None)
                     for st in stu), levels.STUDENT_MISSING_DAY)
    per_row: dict[int, list[tuple[int, int, float, int, int, float, float]]] = {}
    _score(_segments(stu, s), students, s, model, per_row)
    vetoes = fallback.veto_table(model, settings)
    out = _decide(stu, s, per_row, settings, vetoes)
    # the rescue rule for the records left without an auto link (``fallback.run``), then those decided again
    linked = {d["sid"] for d in out if d["band"] == "auto"}
    rows = [r for r, st in enumerate(stu) if keyless(st) and st["sid"] not in linked]
    if _score(_rescue_segments(stu, s, rows), students, s, model, per_row):
        out = _decide(stu, s, per_row, settings, vetoes)
    return out


def _score(segments: list[tuple[int, list[int]]], students: levels.Side, s: Slice, model: fallback.Model,
           per_row: dict[int, list[tuple[int, int, float, int, int, float, float]]]) -> bool:
    """Score ``segments`` and append each one's summary to its student's in ``per_row``; False when none."""
    if not segments:
        return False
    srow = np.concatenate([np.full(len(p), row, dtype=np.int64) for row, p in segments])
    rpos = np.concatenate([np.asarray(p, dtype=np.int64) for _, p in segments])
    codes = levels.pair_codes(students.take(srow), s.side.take(rpos))
    starts = np.r_[0, np.cumsum([len(p) for _, p in segments])[:-1]].astype(np.int64)
    summary = fallback.segment_summary(_table(model)[codes], codes, s.fid[rpos], starts)
    for i, (row, _) in enumerate(segments):
        best, other = int(rpos[summary["best"][i]]), int(rpos[summary["other"][i]])
        per_row.setdefault(row, []).append((best, int(s.fid[best]), float(summary["w"][i]), int(summary["code"][i]),
                                            other, float(summary["w_other"][i]), float(summary["w_sibling"][i])))
    return True


def _decide(stu: list[dict[str, Any]], s: Slice, per_row: dict[int, list[tuple[int, int, float, int, int, float,
                                                                                  float]]],
            settings: fallback.Settings, vetoes: np.ndarray) -> list[dict[str, Any]]:
    """The decision of every student of ``per_row`` from its segments' summaries (``fallback.decide``)."""
    inf = float("inf")
    out = []
    for row in sorted(per_row, key=lambda r: stu[r]["sid"]):
        segs = per_row[row]
        top = max(seg[2] for seg in segs)
        b_rpos, b_fid, w, code, o_rpos, w_other_own, w_sibling = next(seg for seg in segs if seg[2] == top)
        # another family's best: the best one's own runner-up first, then every other segment's best (by weight)
        others = [(o_rpos, s.fid[o_rpos], w_other_own), *sorted(
            ((seg[0], seg[1], seg[2]) for seg in segs if seg[0] != b_rpos), key=lambda o: -o[2])]
        others = [o for o in others if o[1] != b_fid and o[2] > -inf]
        other = max(others, key=lambda o: o[2]) if others else None  # the first of the largest
        probability = float(1.0 / (1.0 + np.exp2(-np.array([w])))[0])
        margin = w - other[2] if other is not None else 99.0
        margin_sibling = w - w_sibling if w_sibling > -inf else 99.0
        veto = bool(vetoes[code]) or stu[row]["rule_nik"] in fallback.REVIEW_ONLY_NIK_RULES
        agreeing = int(levels.agreeing_fields(np.array([code]))[0])
        against = bool(fallback.keys_against(levels.decode(np.array([code], dtype=np.int64)))[0])
        band_p = settings.auto_p_keys_against if against else settings.auto_p
        if probability >= band_p and margin >= settings.margin and not veto:
            band = "auto"
        elif probability >= settings.review_p and agreeing >= settings.review_min_fields:
            band = "review"
        else:
            band = "none"
        o_pos = other[0] if other is not None else None
        out.append({"sid": stu[row]["sid"], "band": band, "no_kk": s.no_kk[b_rpos],
                    "pid": int(s.pid[b_rpos]) if margin_sibling >= settings.margin else None,
                    "probability": probability, "weight": w, "margin": margin, "code": code,
                    "other_no_kk": s.no_kk[o_pos] if o_pos is not None else None,
                    "other_pid": int(s.pid[o_pos]) if o_pos is not None else None})
    return out
