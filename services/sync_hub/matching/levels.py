"""Comparison levels: how a student and a registry person (or a KIP card) compare, field by field, as one
pattern code per pair. Shared by the fallback (``fallback``: blocks, the Fellegi-Sunter model, the bands) and
the KIP identity pass (``kip``).

=========  =============================================================================================
nama       exact / >= 0.94 / >= 0.88 / >= 0.80 / other / missing (normalised names; the larger of Jaro-Winkler
           on the names as written and on their words sorted, the latter capped below "exact": a name written
           in another order is ">= 0.94"; ``name_matrix``)
lahir      same date / a day off, day-month swapped or a year off / one digit of YYYYMMDD mistyped or two
           adjacent digits swapped (a birth-year typo: 2012 -> 2002, 2012 -> 2021) / same year and month /
           other / missing
ibu        exact / >= 0.92 / >= 0.80 / other / missing (mother's maiden name, Jaro-Winkler; 0.92+ owed to shared
           leading words only, the last words disagreeing, counts as >= 0.80: ``ibu_matrix``)
jk         same sex / other / missing
wilayah    same kecamatan / same kabupaten / other / missing (school region vs family region)
nik        equal / one digit changed or two adjacent digits swapped (outside the serial) / sex digit
           flipped / only the serial differs (twins, and anyone born that day in that kecamatan) / other /
           missing
kk         equal (current or former KK number) / other / missing
=========  =============================================================================================

Every comparison has a "missing" level (the last): m = u there, so a missing value weighs nothing either way
(``fallback.Model.weights``), as Splink's null levels do. (The deterministic pass's identity check,
``compare.name_similarity``, takes the larger of Jaro-Winkler and token sort ratio.)

A side (``Side``) holds one side's comparison columns row-aligned, built once per frame (``side``); levels are
integer arithmetic on them (``pattern_codes``), for a block as a matrix or for aligned pairs. A pattern code
packs one level per field (``FIELDS``; ``decode`` unpacks it); ``vetoed``, ``agreeing_fields`` and
``evidence`` read codes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace

import numpy as np
import polars as pl
from rapidfuzz import process
from rapidfuzz.distance import JaroWinkler

from services.sync_hub.matching import frames

FIELDS: tuple[tuple[str, tuple[str, ...], bool], ...] = (
    # name, level labels, whether the last level means "missing" (weight 0)
    ("nama", ("exact", ">=0.94", ">=0.88", ">=0.80", "other", "missing"), True),
    ("lahir", ("exact", "near", "one digit", "same month", "other", "missing"), True),
    ("ibu", ("exact", ">=0.92", ">=0.80", "other", "missing"), True),
    ("jk", ("same", "other", "missing"), True),
    ("wilayah", ("kecamatan", "kabupaten", "other", "missing"), True),
    ("nik", ("equal", "one edit", "sex digit", "serial only", "other", "missing"), True),
    ("kk", ("equal", "other", "missing"), True),
)
SIZES = tuple(len(levels) for _, levels, _ in FIELDS)
# what a stored model was fitted over: another list of comparisons or levels makes it unusable
FIELDS_SCHEMA = hashlib.sha256(json.dumps(FIELDS).encode()).hexdigest()[:16]
N_PATTERNS = int(np.prod(SIZES))


def _radix() -> np.ndarray:
    out = np.ones(len(SIZES), dtype=np.int64)
    for i in range(len(SIZES) - 2, -1, -1):
        out[i] = out[i + 1] * SIZES[i + 1]
    return out


RADIX = _radix()


def decode(codes: np.ndarray) -> np.ndarray:
    """Pattern codes -> (n, fields) level matrix."""
    return (codes[:, None] // RADIX[None, :]) % np.array(SIZES)[None, :]


# ---- arrays ------------------------------------------------------------------------------------------



@dataclass(frozen=True)
class Interned:
    """Names as codes into a table of distinct names (``interned``): taking rows gathers integers, the strings are
    looked up only for the rows compared, and aligned pairs are compared once per distinct pair of names
    (``pair_codes``). ``table`` is a numpy object array; two columns built together share their codes (a name
    and its words sorted: ``interned_names``)."""

    table: np.ndarray
    code: np.ndarray  # int64 per row
    # names (``Side.nama``): per table entry, whether the name's words are out of alphabetical order (its token-sort
    # form, ``Side.nsort``, differs from it); None: not known
    reordered: np.ndarray | None = None
    # every row's string as one Python list (``listed``), for a whole side whose rows are read block by block: a
    # block's names are then a slice or a pick of it, not a gather and a conversion per block (the fallback's
    # small blocks: ~1,200 blocks per unit of 500,000 pairs, 30 -> 10 ms); None: converted when read
    values: list[str] | None = None

    def __len__(self) -> int:
        return len(self.code)

    def take(self, rows: np.ndarray | slice) -> Interned:
        return Interned(self.table, self.code[rows], self.reordered)

    def tolist(self) -> list[str]:
        return self.table[self.code].tolist()  # type: ignore[no-any-return]

    def listed(self) -> Interned:
        """This column with ``values`` filled in."""
        return self if self.values is not None else replace(self, values=self.tolist())

    def strings(self, rows: np.ndarray | slice) -> list[str]:
        """The strings of ``rows`` (``take(rows).tolist()``), from ``values`` when filled in."""
        if self.values is None:
            return self.take(rows).tolist()
        if isinstance(rows, slice):
            return self.values[rows]
        values = self.values
        return [values[i] for i in rows.tolist()]


# a side's names: a polars column (KIP cards), a list (a check's few rows) or ``Interned`` (the fallback's sides)
NameColumn = pl.Series | list[str] | Interned

_DD_MASK = np.uint64(0xFF << 32)  # the nibbles of NIK digits 7-8 (DD) in the packed form
_NIBBLE_LOW = np.uint64(0x1111111111111111)
# levels as int8 constants: a chain of ``np.where`` over them stays int8 (a Python int makes it int64, 8x the bytes)
_I8 = tuple(np.int8(i) for i in range(6))


@dataclass
class Side:
    """One side's comparison columns, row-aligned: names as ``Interned`` codes (the fallback's students and
    registry: a block's or a unit's names are a gather of integers, no string is decoded again), as Python lists
    (a check's few rows) or as a polars column (KIP cards), everything else as numpy arrays."""

    nama: NameColumn
    nsort: NameColumn  # the name's words sorted (token sort)
    ibu: NameColumn
    ibu_missing: np.ndarray
    nama_missing: np.ndarray
    days: np.ndarray  # days since epoch (int32; a sentinel where missing)
    yr: np.ndarray  # int16
    mon: np.ndarray  # int8
    day: np.ndarray  # int8
    sex: np.ndarray  # int8 (0 L, 1 P, -1 unknown)
    kec: np.ndarray  # int64 6-digit region or -1
    kab: np.ndarray
    nik: np.ndarray  # uint64: the 16 digits packed one per nibble (first digit highest), 0 where missing
    has_nik: np.ndarray
    dd: np.ndarray  # int16: NIK digits 7-8 (day, +40 for women)
    ymd: np.ndarray  # uint64: YYYYMMDD packed one digit per nibble, 0 where missing
    kk: np.ndarray  # int64, -1 missing
    kk_old: np.ndarray  # int64, -1 missing (registry side only)

    def __len__(self) -> int:
        return len(self.days)

    def take(self, rows: np.ndarray | slice, names: bool = True) -> Side:
        arrays = {f: getattr(self, f)[rows] for f in _ARRAYS}
        if not names:
            return Side(nama=[], nsort=[], ibu=[], **arrays)
        return Side(nama=_pick(self.nama, rows), nsort=_pick(self.nsort, rows), ibu=_pick(self.ibu, rows), **arrays)

    def names(self) -> Names:
        return Names(_as_list(self.nama), _as_list(self.nsort), _as_list(self.ibu))

    def names_at(self, rows: np.ndarray | slice) -> Names:
        """The names of ``rows`` only (``take(rows).names()`` without gathering every array)."""
        return Names(*(c.strings(rows) if isinstance(c, Interned) else _as_list(_pick(c, rows))
                       for c in (self.nama, self.nsort, self.ibu)))

    def listed(self) -> Side:
        """This side with its ``Interned`` names' ``values`` filled in (``Interned.listed``)."""
        return replace(self, **{c: getattr(self, c).listed() for c in ("nama", "nsort", "ibu")
                                if isinstance(getattr(self, c), Interned)})


@dataclass
class Names:
    nama: list[str]
    nsort: list[str]
    ibu: list[str]


_ARRAYS = ("ibu_missing", "nama_missing", "days", "yr", "mon", "day", "sex", "kec", "kab", "nik", "has_nik", "dd",
           "ymd", "kk", "kk_old")


def _pick(names: NameColumn, rows: np.ndarray | slice) -> NameColumn:
    if isinstance(names, Interned):
        return names.take(rows)
    if isinstance(names, list):
        return names[rows] if isinstance(rows, slice) else [names[i] for i in rows.tolist()]
    return names.slice(rows.start, rows.stop - rows.start) if isinstance(rows, slice) else names.gather(rows)


def _as_list(names: NameColumn) -> list[str]:
    if isinstance(names, list):
        return names
    return names.tolist() if isinstance(names, Interned) else names.to_list()


def _table(values: pl.Series) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values.to_list()
    return out


def interned(values: pl.Series) -> tuple[Interned, pl.Series]:
    """A string column (no nulls) as ``Interned`` (one code per distinct value; each distinct value is decoded from
    polars once), and the distinct values in the table's order. A registry repeats its names (41,295 distinct among
    995,109 persons in the benchmark's world), so a side costs an integer per row."""
    distinct = values.unique().rename("v")
    code = pl.DataFrame({"v": values}).join(distinct.to_frame().with_row_index("_code"), on="v", how="left",
                                            maintain_order="left")["_code"]
    return Interned(_table(distinct), code.to_numpy().astype(np.int64)), distinct


def interned_names(nama: pl.Series) -> tuple[Interned, Interned]:
    """Names (no nulls) and their words sorted (``sorted_words``, the token-sort form) as ``Interned`` sharing one
    code per distinct name; the sorted forms are computed once per distinct name, and the names' ``reordered``
    says which differ from theirs."""
    names, distinct = interned(nama)
    nsort = _table(distinct.to_frame().select(sorted_words(pl.col("v"))).to_series())
    return replace(names, reordered=names.table != nsort), Interned(nsort, names.code)


def side(frame: pl.DataFrame, nik_col: str, kk_col: str, kk_old_col: str | None, missing_day: int,
         name_lists: bool = False, intern: bool = False) -> Side:
    """Columns ``nama``, ``ibu``, ``dob``, ``sex``, ``wil``, ``nik_col``, ``kk_col`` (and ``kk_old_col``; and
    ``nsort``, the name's ``sorted_words``, when the frame has it already), vectorised: the NIK is packed one
    digit per nibble (its digits read as a hexadecimal number), never character by character. Names as lists
    (``name_lists``), as ``Interned`` codes (``intern``: the name and its sorted words share theirs, the sorted
    words computed per distinct name) or as polars columns."""
    frame = frame.with_columns(  # computed once as a column: an expression used twice is evaluated twice
        pl.when(pl.col(nik_col).str.contains(r"^[0-9]{16}$")).then(pl.col(nik_col).cast(pl.UInt64, strict=False))
        .alias("_x"),
        (pl.col("dob").dt.year().cast(pl.UInt64) * 10_000 + pl.col("dob").dt.month().cast(pl.UInt64) * 100
         + pl.col("dob").dt.day().cast(pl.UInt64)).alias("_ymd"))
    x, ymd = pl.col("_x"), pl.col("_ymd")
    # 16 decimal digits read as hexadecimal: each digit in a nibble of its own
    packed = pl.col(nik_col).str.to_integer(base=16, dtype=pl.UInt64, strict=False)
    ymd_packed = pl.sum_horizontal([((ymd // 10 ** (7 - i)) % 10) * (1 << (4 * (7 - i))) for i in range(8)])
    wil = pl.col("wil").fill_null("")
    f = frame.select(
        pl.col("nama").fill_null(""),
        (pl.col("nsort") if "nsort" in frame.columns else sorted_words(pl.col("nama").fill_null(""))).alias("nsort"),
        pl.col("ibu").fill_null(""),
        (pl.col("ibu").fill_null("") == "").alias("ibu_missing"),
        (pl.col("nama").fill_null("") == "").alias("nama_missing"),
        pl.col("dob").cast(pl.Int32).fill_null(missing_day).alias("days"),
        pl.col("dob").dt.year().cast(pl.Int16).fill_null(-1).alias("yr"),
        pl.col("dob").dt.month().cast(pl.Int8).fill_null(-1).alias("mon"),
        pl.col("dob").dt.day().cast(pl.Int8).fill_null(-1).alias("day"),
        pl.when(pl.col("sex") == "L").then(0).when(pl.col("sex") == "P").then(1).otherwise(-1).cast(pl.Int8)
        .alias("sex"),
        wil.str.slice(0, 6).cast(pl.Int64, strict=False).fill_null(-1).alias("kec"),
        wil.str.slice(0, 4).cast(pl.Int64, strict=False).fill_null(-1).alias("kab"),
        pl.when(x.is_not_null()).then(packed).otherwise(0).cast(pl.UInt64).alias("nik"),
        x.is_not_null().alias("has_nik"),
        (x // 10**8 % 100).fill_null(0).cast(pl.Int16).alias("dd"),
        ymd_packed.fill_null(0).cast(pl.UInt64).alias("ymd"),
        pl.col(kk_col).cast(pl.Int64, strict=False).fill_null(-1).alias("kk"),
        (pl.col(kk_old_col).cast(pl.Int64, strict=False).fill_null(-1) if kk_old_col else pl.lit(-1, pl.Int64))
        .alias("kk_old"),
    )
    cols = ("nama", "nsort", "ibu")
    named: dict[str, NameColumn] = {c: (f[c].to_list() if name_lists else f[c]) for c in cols}
    if intern:
        named["nama"], named["nsort"] = interned_names(f["nama"])
        named["ibu"] = interned(f["ibu"])[0]
    return Side(**named, **{c: f[c].to_numpy() for c in _ARRAYS})


def sorted_words(name: pl.Expr) -> pl.Expr:
    """The words of a (normalised) name in alphabetical order: ``sorted_words("santoso budi") == "budi santoso"``."""
    return name.str.split(" ").list.sort().list.join(" ")


# a missing birth date: a different sentinel on each side, so that two missing dates never agree
STUDENT_MISSING_DAY = -(10**6)
OTHER_MISSING_DAY = -(2 * 10**6)  # a registry person's or a KIP card's


def prepare_students(stu: pl.DataFrame) -> pl.DataFrame:
    """``frames.students_frame`` with a placeholder NIK (or the KK number or a parent's NIK typed as the child's)
    dropped from ``nik_digits``: such a NIK is similar to nothing."""
    placeholder = pl.col("rule_nik").is_in(list(frames.NOT_THE_CHILDS)).fill_null(False)
    return stu.with_columns(pl.when(placeholder).then(None).otherwise(pl.col("nik_digits")).alias("nik_digits"))


def student_side(stu: pl.DataFrame) -> Side:
    """The students' side of ``prepare_students(stu)`` (names ``Interned``, as the registry's)."""
    return side(stu, "nik_digits", "no_kk", None, STUDENT_MISSING_DAY, intern=True)


def registry_side(persons: pl.DataFrame) -> Side:
    """The registry's side of persons with the family's region (``wil``) and a former KK number (``old_kk``)."""
    return side(persons, "nik", "no_kk", "old_kk", OTHER_MISSING_DAY, intern=True)


# ---- levels ------------------------------------------------------------------------------------------

_PARALLEL_FROM = 100_000  # pairs: below this rapidfuzz's threads cost more than they save


def _workers(pairs: int, workers: int | None) -> int:
    """rapidfuzz's ``workers``: as asked, else every core from ``_PARALLEL_FROM`` pairs on."""
    return workers if workers is not None else -1 if pairs >= _PARALLEL_FROM else 1


def sim_matrix(a: list[str], b: list[str], workers: int | None = None) -> np.ndarray:
    workers = _workers(len(a) * len(b), workers)
    return process.cdist(a, b, scorer=JaroWinkler.normalized_similarity, dtype=np.float32, workers=workers)


def sim_pairs(a: list[str], b: list[str], workers: int | None = None) -> np.ndarray:
    """The same scorer as ``sim_matrix``, on aligned pairs (u sampling): the levels must mean the same."""
    workers = _workers(len(a), workers)
    return process.cpdist(a, b, scorer=JaroWinkler.normalized_similarity, dtype=np.float32, workers=workers)


REORDERED = 0.99  # a name equal or close only with its words sorted: ">= 0.94", never "exact"


def _token_sort(raw: np.ndarray, by_sorted: np.ndarray) -> np.ndarray:
    return np.maximum(raw, np.minimum(by_sorted, REORDERED))


def name_matrix(a: Names, b: Names, workers: int | None = None) -> np.ndarray:
    """Names of ``a`` against names of ``b``: the larger of Jaro-Winkler on the names as written and on their
    words sorted (token sort), the latter capped at ``REORDERED`` ("santoso budi" / "budi santoso": 0.99).
    Jaro-Winkler alone rewards a common start, which a name written in another order does not have."""
    return _token_sort(sim_matrix(a.nama, b.nama, workers), sim_matrix(a.nsort, b.nsort, workers))


def name_pairs(a: Names, b: Names, workers: int | None = None) -> np.ndarray:
    """``name_matrix`` on aligned pairs."""
    return _token_sort(sim_pairs(a.nama, b.nama, workers), sim_pairs(a.nsort, b.nsort, workers))


_SHARED_START = 0.92  # a mother's name this close may owe it to shared leading words ("ni gede s...", "siti ...")


def _last_words_apart(sim: np.ndarray, idx: tuple[np.ndarray, ...], a: list[str], b: list[str],
                      pairwise: bool) -> np.ndarray:
    """Demote to the ">= 0.80" level the pairs of ``sim`` at ``idx`` whose last words disagree (< 0.80):
    Jaro-Winkler rewards a long common prefix, and mothers' names share theirs ("ni gede sriasih" / "ni gede
    suastini" score 0.92); the given name at the end is what tells two mothers apart."""
    ia, ib = (idx[0], idx[0]) if pairwise else idx
    la = [a[i].rsplit(" ", 1)[-1] for i in ia.tolist()]
    lb = [b[i].rsplit(" ", 1)[-1] for i in ib.tolist()]
    last = process.cpdist(la, lb, scorer=JaroWinkler.normalized_similarity, dtype=np.float32, workers=1)
    out = sim.copy()
    out[idx] = np.where(last < 0.80, np.minimum(sim[idx], 0.90), sim[idx])
    return out


def ibu_matrix(a: list[str], b: list[str], workers: int | None = None) -> np.ndarray:
    """Mothers' names compared (``sim_matrix``), a close score owed to shared leading words demoted."""
    sim = sim_matrix(a, b, workers)
    idx = np.nonzero((sim >= _SHARED_START) & (sim < 0.999))
    return _last_words_apart(sim, idx, a, b, pairwise=False) if idx[0].size else sim


def ibu_pairs(a: list[str], b: list[str], workers: int | None = None) -> np.ndarray:
    """``ibu_matrix`` on aligned pairs."""
    sim = sim_pairs(a, b, workers)
    idx = np.nonzero((sim >= _SHARED_START) & (sim < 0.999))
    return _last_words_apart(sim, idx, a, b, pairwise=True) if idx[0].size else sim


def _grid(a: np.ndarray, b: np.ndarray, pairwise: bool) -> tuple[np.ndarray, np.ndarray]:
    return (a, b) if pairwise else (a[:, None], b[None, :])


def pattern_codes(s: Side, r: Side, sim_nama: np.ndarray, sim_ibu: np.ndarray, pairwise: bool = False) -> np.ndarray:
    """Pattern codes (int32) of every student of ``s`` against every person of ``r`` (a matrix), or of aligned
    pairs (``pairwise``). Integer arithmetic throughout; the NIK compares its packed digits (one nibble each):
    XOR, then a count of the differing nibbles."""
    def g(name: str) -> tuple[np.ndarray, np.ndarray]:
        return _grid(getattr(s, name), getattr(r, name), pairwise)

    nama = (4 - (sim_nama >= 0.80).astype(np.int32) - (sim_nama >= 0.88) - (sim_nama >= 0.94) - (sim_nama >= 0.999))
    if s.nama_missing.any() or r.nama_missing.any():
        na, nb = g("nama_missing")
        nama = np.where(na | nb, 5, nama)
    (da, db), (ya, yb), (ma, mb), (xa, xb) = g("days"), g("yr"), g("mon"), g("day")
    diff = np.abs(da - db)
    same_month = (ya == yb) & (ma == mb)
    swapped = (ya == yb) & (xa == mb) & (ma == xb)
    year_off = (ma == mb) & (xa == xb) & (np.abs(ya - yb) == 1)
    (pa, pb) = g("ymd")
    lahir = np.where(diff == 0, 0, np.where((diff <= 1) | swapped | year_off, 1, np.where(
        _one_digit(pa, pb), 2, np.where(same_month, _I8[3], _I8[4]))))
    lahir = np.where((pa == 0) | (pb == 0), 5, lahir)
    ia, ib = g("ibu_missing")
    ibu = np.where(ia | ib, 4, 3 - (sim_ibu >= 0.80).astype(np.int8) - (sim_ibu >= 0.92) - (sim_ibu >= 0.999))
    sa, sb = g("sex")
    jk = np.where((sa < 0) | (sb < 0), 2, (sa != sb).astype(np.int8))
    (ka, kb), (ba, bb) = g("kec"), g("kab")
    wil = np.where((ka < 0) | (kb < 0), 3, np.where(ka == kb, 0, np.where(ba == bb, _I8[1], _I8[2])))
    nik = _nik_level(s, r, pairwise) if s.has_nik.any() else np.int16(5)  # no student NIK: all "missing"
    (kka, kkb), (_, kob) = g("kk"), g("kk_old")
    kk = (np.where(kka < 0, 2, np.where((kka == kkb) | (kka == kob), _I8[0], _I8[1])) if (s.kk >= 0).any()
          else np.int16(2))
    codes = ((((((nama * SIZES[1] + lahir) * SIZES[2] + ibu) * SIZES[3] + jk) * SIZES[4] + wil) * SIZES[5] + nik)
             * SIZES[6] + kk)
    return np.broadcast_to(codes, np.broadcast_shapes(sim_nama.shape, codes.shape)).astype(np.int32)


def _nibbles_apart(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Digits packed one per nibble: (XOR, a bit per differing digit, the count of differing digits)."""
    d = a ^ b
    y = (d | (d >> np.uint64(1)) | (d >> np.uint64(2)) | (d >> np.uint64(3))) & _NIBBLE_LOW
    return d, y, np.bitwise_count(y)


def _transposed(a: np.ndarray, b: np.ndarray, y: np.ndarray, ndiff: np.ndarray) -> np.ndarray:
    """Exactly two adjacent digits differ, and they are swapped."""
    pair = y & (y >> np.uint64(4))  # the lower of two adjacent differing digits
    spread = pair * np.uint64(0xF)
    return ((ndiff == 2) & (pair != 0) & (((a >> np.uint64(4)) & spread) == (b & spread))
            & (((b >> np.uint64(4)) & spread) == (a & spread)))


def _one_digit(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Two packed dates (YYYYMMDD) one typing error apart: one digit changed, or two adjacent digits swapped."""
    _, y, ndiff = _nibbles_apart(a, b)
    return (ndiff == 1) | _transposed(a, b, y, ndiff)


def _nik_level(s: Side, r: Side, pairwise: bool) -> np.ndarray:
    (na, nb), (ha, hb), (dda, ddb) = (_grid(getattr(s, f), getattr(r, f), pairwise) for f in ("nik", "has_nik", "dd"))
    d, y, ndiff = _nibbles_apart(na, nb)
    transposed = _transposed(na, nb, y, ndiff)
    same12 = (d >> np.uint64(16)) == 0
    flipped = ((d & ~_DD_MASK) == 0) & (np.abs(dda - ddb) == 40)
    other = np.where(flipped, 2, np.where(same12, _I8[3], _I8[4]))
    return np.where(~(ha & hb), 5, np.where(d == 0, 0, np.where(((ndiff == 1) | transposed) & ~same12, 1, other)))




def matrix_codes(s: Side, r: Side, workers: int | None = None, names: tuple[Names, Names] | None = None
                 ) -> np.ndarray:
    """Pattern codes of every row of ``s`` against every row of ``r`` (a matrix), names compared here
    (``workers``: rapidfuzz's; default by size, ``_workers``); ``names``: the two sides' names when read already
    (``Side.names_at``; ``s`` and ``r`` may then be taken without them)."""
    a, b = names if names is not None else (s.names(), r.names())
    return pattern_codes(s, r, name_matrix(a, b, workers), ibu_matrix(a.ibu, b.ibu, workers))


def pair_codes(s: Side, r: Side, workers: int | None = None) -> np.ndarray:
    """Pattern codes of the aligned pairs (row i of ``s`` with row i of ``r``), names compared here: once per
    distinct pair of names when both sides are ``Interned`` (``_distinct``), else pair by pair."""
    if all(isinstance(getattr(x, c), Interned) for x in (s, r) for c in ("nama", "nsort", "ibu")):
        return pattern_codes(s, r, _interned_name_pairs(s, r, workers), _interned_ibu_pairs(s, r, workers),
                             pairwise=True)
    a, b = s.names(), r.names()
    return pattern_codes(s, r, name_pairs(a, b, workers), ibu_pairs(a.ibu, b.ibu, workers), pairwise=True)


def _distinct(a: Interned, b: Interned) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct pairs of codes of the aligned ``a`` and ``b``: (codes of ``a``, codes of ``b``, and per pair the
    index of its distinct pair). The candidate pairs of the nationwide rules repeat their names (siblings share a
    mother, namesakes a name): 2.2M pairs of the benchmark's fallback hold 1.3M distinct pairs of names and 0.16M of
    mothers' names. Integer work (a sort), which numpy runs without the GIL."""
    width = max(len(b.table), 1)
    key = a.code * width + b.code
    distinct, inverse = distinct_keys(key, max(len(a.table), 1) * width)
    return distinct // width, distinct % width, inverse


def distinct_keys(key: np.ndarray, space: int) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(key, return_inverse=True)`` of non-negative int64 keys below ``space``: the distinct keys in
    ascending order, and per key the index of its distinct key. Where ``space`` is small against the keys (a unit's
    students against its province's KIP cards, a block's names), marked in a table of ``space`` flags (two passes);
    otherwise by a stable sort (radix / timsort: the keys repeat and run — pairs sorted by student, a student's name
    repeated over its pairs — where numpy's default quicksort took 4-8x as long: 500,000 mothers' name keys, 48,000
    distinct, 74 against 9 ms)."""
    if key.size and space <= 4 * key.size:
        seen = np.zeros(space, dtype=bool)
        seen[key] = True
        return np.flatnonzero(seen).astype(np.int64), (np.cumsum(seen) - 1)[key].astype(np.int64)
    order = np.argsort(key, kind="stable")
    ordered = key[order]
    first = np.r_[True, ordered[1:] != ordered[:-1]] if key.size else np.zeros(0, dtype=bool)
    inverse = np.empty(key.size, dtype=np.int64)
    inverse[order] = np.cumsum(first) - 1
    return ordered[first], inverse


def _interned_name_pairs(s: Side, r: Side, workers: int | None) -> np.ndarray:
    """``name_pairs`` of ``Interned`` sides, once per distinct pair of names; the token-sort comparison only where
    one of the two names is written out of alphabetical order (where neither is, the sorted forms are the names
    themselves and the comparison would repeat the first: the same value)."""
    a, b, a_sorted, b_sorted = s.nama, r.nama, s.nsort, r.nsort
    assert isinstance(a, Interned) and isinstance(b, Interned)
    assert isinstance(a_sorted, Interned) and isinstance(b_sorted, Interned)
    ca, cb, inverse = _distinct(a, b)
    raw = sim_pairs(a.table[ca].tolist(), b.table[cb].tolist(), workers)
    by_sorted = raw.copy()
    moved = np.ones(ca.size, dtype=bool) if a.reordered is None or b.reordered is None else (
        a.reordered[ca] | b.reordered[cb])
    at = np.flatnonzero(moved)
    if at.size:
        by_sorted[at] = sim_pairs(a_sorted.table[ca[at]].tolist(), b_sorted.table[cb[at]].tolist(), workers)
    return _token_sort(raw, by_sorted)[inverse]


def _interned_ibu_pairs(s: Side, r: Side, workers: int | None) -> np.ndarray:
    """``ibu_pairs`` of ``Interned`` sides, once per distinct pair of mothers' names."""
    a, b = s.ibu, r.ibu
    assert isinstance(a, Interned) and isinstance(b, Interned)
    ca, cb, inverse = _distinct(a, b)
    return ibu_pairs(a.table[ca].tolist(), b.table[cb].tolist(), workers)[inverse]


# ---- reading codes -----------------------------------------------------------------------------------


def vetoed(codes: np.ndarray) -> np.ndarray:
    """Patterns that never auto-link on their marginal weights (the model assumes independent fields; these
    combinations are where that fails: a homonym, a parent, a sibling): ``standing_vetoed | name_date_vetoed``.
    The fallback lifts the second kind only where the registry measures such lookalikes rare
    (``fallback.veto_table``)."""
    return standing_vetoed(codes) | name_date_vetoed(codes)


def _strong(lv: np.ndarray) -> np.ndarray:
    return (lv[:, 5] <= 2) | (lv[:, 6] == 0)  # a near NIK or the family's KK number


def standing_vetoed(codes: np.ndarray) -> np.ndarray:
    """Vetoes never lifted: the mother's name disagrees (< 0.92) without a near NIK or the family's KK number
    behind the pair (another mother is another person, whatever the rest says); the name and the birth date
    both "other" (nothing of the person agrees)."""
    lv = decode(codes.astype(np.int64))
    nama, lahir, ibu, nik, kk = lv[:, 0], lv[:, 1], lv[:, 2], lv[:, 5], lv[:, 6]
    return (((ibu == 3) & ~((nik <= 1) & (kk == 0))) | ((ibu == 2) & ~_strong(lv))
            | ((nama == 4) & (lahir == 4)))


def name_date_vetoed(codes: np.ndarray) -> np.ndarray:
    """The name is far (< 0.88) or missing, or the birth date is far (same month or other), without a near NIK or
    the family's KK number: what a twin, a sibling, a near-namesake or a father of the same name looks like. A
    missing date is no evidence either way."""
    lv = decode(codes.astype(np.int64))
    nama, lahir = lv[:, 0], lv[:, 1]
    strong = _strong(lv)
    far = (lahir == 3) | (lahir == 4)  # same month or other; a missing date (5) is no evidence either way
    return ((nama >= 3) & ~strong) | (far & ~strong)


def agreeing_fields(codes: np.ndarray) -> np.ndarray:
    """How many identity fields agree in each pattern: the name (>= 0.88), the birth date (equal or near),
    the mother's name (>= 0.92), the NIK (equal or one edit), the KK number; 0 when neither name agrees.
    Region and sex are left out (every candidate of a block shares the kabupaten, half of them the sex),
    and so is a NIK differing in the serial or the sex digit only (it says the same birth date and
    kecamatan again)."""
    lv = decode(codes.astype(np.int64))
    name, mother = lv[:, 0] <= 2, lv[:, 2] <= 1
    count = (name.astype(np.int8) + mother + (lv[:, 1] <= 2) + (lv[:, 5] <= 1) + (lv[:, 6] == 0))
    return np.where(name | mother, count, 0)


def evidence(code: int) -> dict[str, str]:
    """The level of every comparison in a pattern code: which fields agreed, and how strongly."""
    levels = decode(np.array([code], dtype=np.int64))[0]
    return {name: labels[lv] for (name, labels, _), lv in zip(FIELDS, levels, strict=True)}
