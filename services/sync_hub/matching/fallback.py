"""Fallback linking when no usable NIK links: blocking, a Fellegi-Sunter model, three bands.

Candidates are registry persons in the same block: (kabupaten, birth year), where a student's kabupaten
is taken from every place its record names (the school's region, the KK number's prefix, the NIK's
prefix even when the NIK is invalid), so a family that moved or a wrong prefix still meets its block.
Each candidate pair gets one level per comparison:

=========  =============================================================================================
nama       exact / Jaro-Winkler-or-token-sort >= 0.94 / >= 0.88 / >= 0.80 / other (normalised names)
lahir      same date / a day off, day-month swapped or a year off / same year and month / other
ibu        exact / >= 0.92 / >= 0.80 / other / missing (mother's maiden name)
jk         same sex / other
wilayah    same kecamatan / same kabupaten / other / missing (school region vs family region)
nik        equal / one digit changed or two adjacent digits swapped (outside the serial) / sex digit
           flipped / only the serial differs (twins, and anyone born that day in that kecamatan) / other /
           missing
kk         equal (current or former KK number) / other / missing
=========  =============================================================================================

Weights are Fellegi-Sunter log2(m/u): ``u`` from random student-registry pairs (what agreement looks like
by chance), the prior (the chance that a random pair matches) from the deterministic links, ``m`` by
expectation-maximisation over the candidate pairs' comparison patterns with u and the prior fixed
(unsupervised, as Splink does). A missing value weighs nothing.

Scoring runs block by block: names with rapidfuzz ``cdist`` (one matrix per block), the rest with numpy
broadcasting; pairs never become Python objects. Each student keeps its best candidate, the best one in
another family and the best one in the same family.

Bands: ``auto`` (link) when the match probability is at least ``auto_p``, the best candidate beats every
other family's by ``margin`` bits and no veto holds (the mother's name disagrees; the name or the birth
date is far without a near NIK to make up for it); ``review`` when the probability is at least
``review_p`` and at least ``review_min_fields`` identity fields agree; otherwise no link. A person (not
only the family) is named only when it also beats its own family's other members by the margin: twins are
linked to their family, never to one twin by a guess.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl
from rapidfuzz import process
from rapidfuzz.distance import JaroWinkler

from services.sync_hub.matching.frames import Registry

FIELDS: tuple[tuple[str, tuple[str, ...], bool], ...] = (
    # name, level labels, whether the last level means "missing" (weight 0)
    ("nama", ("exact", ">=0.94", ">=0.88", ">=0.80", "other"), False),
    ("lahir", ("exact", "near", "same month", "other"), False),
    ("ibu", ("exact", ">=0.92", ">=0.80", "other", "missing"), True),
    ("jk", ("same", "other"), False),
    ("wilayah", ("kecamatan", "kabupaten", "other", "missing"), True),
    ("nik", ("equal", "one edit", "sex digit", "serial only", "other", "missing"), True),
    ("kk", ("equal", "other", "missing"), True),
)
SIZES = tuple(len(levels) for _, levels, _ in FIELDS)
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

@dataclass
class _Side:
    """One side's columns as numpy arrays (and name lists), indexed by row position."""

    nama: list[str]
    ibu: list[str]
    dob: np.ndarray  # days since epoch, int32
    sex: np.ndarray  # int8 (0 L, 1 P, -1 unknown)
    kec: np.ndarray  # int64 6-digit region or -1
    kab: np.ndarray
    nik: np.ndarray  # (n, 16) uint8, 255 where missing
    has_nik: np.ndarray
    kk: np.ndarray  # int64, -1 missing
    kk_old: np.ndarray  # int64, -1 missing (registry side only)


def _digits(col: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    s = col.fill_null("").to_list()
    ok = np.array([len(v) == 16 and v.isdigit() for v in s], dtype=bool)
    buf = np.full((len(s), 16), 255, dtype=np.uint8)
    if ok.any():
        joined = "".join(v for v, k in zip(s, ok, strict=True) if k).encode()
        buf[ok] = (np.frombuffer(joined, dtype=np.uint8) - 48).reshape(-1, 16)
    return buf, ok


def _int_or(col: pl.Series, default: int = -1) -> np.ndarray:
    return col.cast(pl.Int64, strict=False).fill_null(default).to_numpy()


def _side(frame: pl.DataFrame, nik_col: str, kk_col: str, kk_old_col: str | None) -> _Side:
    nik, has = _digits(frame[nik_col])
    wil = frame["wil"].fill_null("")
    return _Side(
        nama=frame["nama"].fill_null("").to_list(), ibu=frame["ibu"].fill_null("").to_list(),
        dob=frame["dob"].cast(pl.Int32).fill_null(-10**6).to_numpy(),
        sex=frame.select(pl.when(pl.col("sex") == "L").then(0).when(pl.col("sex") == "P").then(1).otherwise(-1)
                         .cast(pl.Int8)).to_series().to_numpy(),
        kec=_int_or(wil.str.slice(0, 6)), kab=_int_or(wil.str.slice(0, 4)),
        nik=nik, has_nik=has,
        kk=_int_or(frame[kk_col]), kk_old=_int_or(frame[kk_old_col]) if kk_old_col else np.full(frame.height, -1),
    )


# ---- levels ------------------------------------------------------------------------------------------

def _name_level(sim: np.ndarray) -> np.ndarray:
    return np.select([sim >= 0.999, sim >= 0.94, sim >= 0.88, sim >= 0.80], [0, 1, 2, 3], 4)


def _sim_matrix(a: list[str], b: list[str]) -> np.ndarray:
    jw = process.cdist(a, b, scorer=JaroWinkler.normalized_similarity, dtype=np.float32, workers=1)
    return jw


def _sim_pairs(a: list[str], b: list[str]) -> np.ndarray:
    """The same scorer as ``_sim_matrix``, on aligned pairs (u sampling): the levels must mean the same."""
    return process.cpdist(a, b, scorer=JaroWinkler.normalized_similarity, dtype=np.float32, workers=1)


def _levels(s: _Side, si: np.ndarray, r: _Side, ri: np.ndarray, sim_nama: np.ndarray,
            sim_ibu: np.ndarray, ibu_missing: np.ndarray) -> np.ndarray:
    """Pattern codes for student rows ``si`` against registry rows ``ri`` (broadcastable index arrays)."""
    nama = _name_level(sim_nama)
    da, db = s.dob[si], r.dob[ri]
    diff = np.abs(da - db)
    # calendar parts via numpy datetime64
    ya, yb = da.astype("datetime64[D]"), db.astype("datetime64[D]")
    ma, mb = ya.astype("datetime64[M]"), yb.astype("datetime64[M]")
    day_a = (ya - ma).astype(np.int32) + 1
    day_b = (yb - mb).astype(np.int32) + 1
    mon_a = ma.astype(np.int32) % 12 + 1
    mon_b = mb.astype(np.int32) % 12 + 1
    yr_a = ma.astype(np.int32) // 12
    yr_b = mb.astype(np.int32) // 12
    swapped = (yr_a == yr_b) & (day_a == mon_b) & (mon_a == day_b)
    year_off = (mon_a == mon_b) & (day_a == day_b) & (np.abs(yr_a - yr_b) == 1)
    lahir = np.select([diff == 0, (diff <= 1) | swapped | year_off, (yr_a == yr_b) & (mon_a == mon_b)], [0, 1, 2], 3)
    ibu = np.where(ibu_missing, 4, np.select([sim_ibu >= 0.999, sim_ibu >= 0.92, sim_ibu >= 0.80], [0, 1, 2], 3))
    jk = (s.sex[si] != r.sex[ri]).astype(np.int8)
    kec_a, kec_b = s.kec[si], r.kec[ri]
    wil = np.select([(kec_a < 0) | (kec_b < 0), kec_a == kec_b, s.kab[si] == r.kab[ri]], [3, 0, 1], 2)
    # NIK digits
    na, nb = s.nik[si], r.nik[ri]  # (..., 16)
    neq = na != nb
    ndiff = neq.sum(axis=-1)
    adj = (na[..., :-1] == nb[..., 1:]) & (na[..., 1:] == nb[..., :-1]) & neq[..., :-1] & neq[..., 1:]
    transposed = (ndiff == 2) & adj.any(axis=-1)
    dd_a = na[..., 6].astype(np.int16) * 10 + na[..., 7]
    dd_b = nb[..., 6].astype(np.int16) * 10 + nb[..., 7]
    rest_eq = (neq[..., :6].sum(axis=-1) + neq[..., 8:].sum(axis=-1)) == 0
    flipped = rest_eq & (np.abs(dd_a - dd_b) == 40)
    same12 = neq[..., :12].sum(axis=-1) == 0
    nik_missing = ~(s.has_nik[si] & r.has_nik[ri])
    nik = np.where(nik_missing, 5, np.select(
        [ndiff == 0, ((ndiff == 1) | transposed) & ~same12, flipped, same12], [0, 1, 2, 3], 4))
    kk_a = s.kk[si]
    kk = np.where(kk_a < 0, 2, np.where((kk_a == r.kk[ri]) | (kk_a == r.kk_old[ri]), 0, 1))
    return ((((((nama * SIZES[1] + lahir) * SIZES[2] + ibu) * SIZES[3] + jk) * SIZES[4] + wil) * SIZES[5] + nik)
            * SIZES[6] + kk).astype(np.int32)


# ---- model -------------------------------------------------------------------------------------------

@dataclass
class Model:
    """Fellegi-Sunter parameters: per field, m and u per level; the prior probability of a match."""

    m: list[np.ndarray]
    u: list[np.ndarray]
    prior: float
    iterations: int = 0

    def weights(self) -> list[np.ndarray]:
        out = []
        for (_, _, has_missing), m, u in zip(FIELDS, self.m, self.u, strict=True):
            w = np.log2(np.maximum(m, 1e-12) / np.maximum(u, 1e-12))
            if has_missing:
                w[-1] = 0.0
            out.append(w)
        return out

    def pattern_weights(self) -> np.ndarray:
        """Match weight (bits, prior excluded) of every pattern code."""
        levels = decode(np.arange(N_PATTERNS))
        total = np.zeros(N_PATTERNS)
        for f, w in enumerate(self.weights()):
            total += w[levels[:, f]]
        return total

    def prior_weight(self) -> float:
        return float(np.log2(self.prior / (1 - self.prior)))

    def describe(self) -> list[dict[str, object]]:
        return [{"field": name, "levels": [
            {"level": lv, "m": round(float(m), 6), "u": round(float(u), 6), "weight": round(float(w), 2)}
            for lv, m, u, w in zip(levels, self.m[i], self.u[i], self.weights()[i], strict=True)]}
            for i, (name, levels, _) in enumerate(FIELDS)]


def _level_freq(levels: np.ndarray, counts: np.ndarray, smoothing: float) -> list[np.ndarray]:
    out = []
    for f, size in enumerate(SIZES):
        freq = np.bincount(levels[:, f], weights=counts, minlength=size) + smoothing
        out.append(freq / freq.sum())
    return out


def estimate_u(codes: np.ndarray) -> list[np.ndarray]:
    """u per field from the comparison codes of random (non-matching) pairs (uniform when there are none)."""
    if codes.size == 0:
        return [np.full(size, 1.0 / size) for size in SIZES]
    counts = np.bincount(codes, minlength=N_PATTERNS).astype(np.float64)
    nz = np.flatnonzero(counts)
    return _level_freq(decode(nz), counts[nz], smoothing=0.5)


def _default_m() -> list[np.ndarray]:
    m = []
    for _, levels, has_missing in FIELDS:
        n = len(levels) - (1 if has_missing else 0)
        base = np.array([0.9 * 0.3 ** i for i in range(n)])
        if has_missing:
            base = np.append(base, base.sum() * 0.1)
        m.append(base / base.sum())
    return m


def fit(codes_counts: np.ndarray, u: list[np.ndarray], prior: float = 1e-3, m: list[np.ndarray] | None = None,
        iterations: int = 50, tolerance: float = 1e-6, fixed_prior: bool = True) -> Model:
    """EM for m with u fixed, over pattern counts (``np.bincount`` of candidate codes).

    ``prior`` is the probability that a *random* student-registry pair matches (as Splink's lambda), with
    ``u`` from random pairs: then a candidate pair's posterior odds are exactly prior odds x m/u, the
    evidence that blocking selected the pair (same kabupaten, same birth year) being counted once, in the
    wilayah and lahir levels. It stays fixed (``fixed_prior``): left free, EM on candidate pairs (all in one
    block) can take "in the same block" for "a match" and drift to a prior near 0.5 at high error rates,
    where a stranger of the same kabupaten and birth year then looks like a possible match."""
    nz = np.flatnonzero(codes_counts)
    if nz.size == 0:  # nothing to learn from: the defaults
        return Model(m or _default_m(), u, prior, 0)
    counts = codes_counts[nz].astype(np.float64)
    levels = decode(nz)
    m = [x.copy() for x in (m or _default_m())]
    lu = np.zeros(len(nz))
    for f in range(len(SIZES)):
        lu += np.log(u[f][levels[:, f]])
    it = 0
    for it in range(1, iterations + 1):  # noqa: B007 - reported in the model
        lm = np.zeros(len(nz))
        for f in range(len(SIZES)):
            lm += np.log(np.maximum(m[f][levels[:, f]], 1e-300))
        a = np.log(prior) + lm
        b = np.log1p(-prior) + lu
        p = 1.0 / (1.0 + np.exp(np.clip(b - a, -700, 700)))
        w = counts * p
        new_m = _level_freq(levels, w, smoothing=1e-3)
        delta = max(float(np.max(np.abs(nm - om))) for nm, om in zip(new_m, m, strict=True))
        m = new_m
        if not fixed_prior:
            prior = min(max(float(w.sum() / counts.sum()), 1e-9), 0.5)
        if delta < tolerance:
            break
    for f, (_, _, has_missing) in enumerate(FIELDS):  # a missing value is not evidence either way
        if has_missing:
            m[f][-1] = u[f][-1]
    return Model(m, u, prior, it)


# ---- candidates --------------------------------------------------------------------------------------

@dataclass
class Settings:
    auto_p: float = 0.999
    review_p: float = 0.5
    margin: float = 6.0  # bits the best candidate must beat other families (and, for a person, siblings) by
    review_min_fields: int = 2  # identity fields that must agree for the review band (see ``agreeing_fields``)
    u_pairs: int = 200_000
    train_students: int = 20_000
    seed: int = 1


@dataclass
class Candidates:
    sid: np.ndarray
    pid: np.ndarray
    code: np.ndarray
    pairs_scored: int = 0
    blocks: int = 0


def _student_blocks(stu: pl.DataFrame) -> pl.DataFrame:
    """(sid, kab, yr) for every kabupaten the record names: school region, KK prefix, NIK prefix."""
    kab = pl.concat([
        stu.select("sid", pl.col("wil").str.slice(0, 4).alias("kab")),
        stu.select("sid", pl.col("no_kk").str.slice(0, 4).alias("kab")),
        stu.select("sid", pl.col("nik_digits").str.slice(0, 4).alias("kab")),
    ]).drop_nulls().filter(pl.col("kab").str.len_chars() == 4).unique()
    return kab.join(stu.select("sid", pl.col("dob").dt.year().alias("yr")), on="sid")


def _prepare_students(stu: pl.DataFrame) -> pl.DataFrame:
    placeholder = pl.col("rule_nik").is_in(["placeholder", "same_as_no_kk"]).fill_null(False)
    return stu.with_columns(pl.when(placeholder).then(None).otherwise(pl.col("nik_digits")).alias("nik_digits"))


def _registry_frame(reg: Registry) -> pl.DataFrame:
    cached = reg._cache.get("fallback_frame")
    if isinstance(cached, pl.DataFrame):
        return cached
    old = reg.kk_lama.group_by("no_kk").agg(pl.col("old_kk").last())
    frame = reg.persons.join(old, on="no_kk", how="left").with_columns(
        pl.col("wil").str.slice(0, 4).alias("kab"), pl.col("dob").dt.year().alias("yr"))
    reg._cache["fallback_frame"] = frame
    return frame


def candidates(stu: pl.DataFrame, reg: Registry) -> tuple[Candidates, _Side, _Side, pl.DataFrame, pl.DataFrame]:
    """Every candidate pair's pattern code, block by block."""
    stu = _prepare_students(stu)
    rframe = _registry_frame(reg)
    s_side = _side(stu, "nik_digits", "no_kk", None)
    r_side = _side(rframe, "nik", "no_kk", "old_kk")
    blocks = _student_blocks(stu).with_columns(pl.col("sid").alias("srow"))
    srow = stu.select("sid").with_row_index("srow").with_columns(pl.col("srow").cast(pl.Int64))
    blocks = blocks.drop("srow").join(srow, on="sid")
    rblocks = rframe.select(pl.int_range(pl.len(), dtype=pl.Int64).alias("rrow"), "kab", "yr").drop_nulls()
    s_groups = blocks.group_by("kab", "yr").agg(pl.col("srow"))
    r_groups = rblocks.group_by("kab", "yr").agg(pl.col("rrow"))
    joined = s_groups.join(r_groups, on=["kab", "yr"])
    out_s, out_r, out_c = [], [], []
    pairs = 0
    s_ibu_missing = np.array([not v for v in s_side.ibu])
    r_ibu_missing = np.array([not v for v in r_side.ibu])
    for srows, rrows in zip(joined["srow"].to_list(), joined["rrow"].to_list(), strict=True):
        si = np.asarray(srows, dtype=np.int64)
        ri = np.asarray(rrows, dtype=np.int64)
        sim_n = _sim_matrix([s_side.nama[i] for i in si], [r_side.nama[j] for j in ri])
        sim_i = _sim_matrix([s_side.ibu[i] for i in si], [r_side.ibu[j] for j in ri])
        missing = s_ibu_missing[si][:, None] | r_ibu_missing[ri][None, :]
        codes = _levels(s_side, si[:, None], r_side, ri[None, :], sim_n, sim_i, missing)
        out_s.append(np.repeat(si, len(ri)))
        out_r.append(np.tile(ri, len(si)))
        out_c.append(codes.ravel())
        pairs += codes.size
    # second pass, nationwide: the same name and birth date, or the same mother's name and birth date
    # (a record with no region at all, a family that moved far); scored pair by pair
    sdob = stu.select(pl.int_range(pl.len(), dtype=pl.Int64).alias("srow"), "nama", "ibu", "dob")
    rdob = rframe.select(pl.int_range(pl.len(), dtype=pl.Int64).alias("rrow"), "nama", "ibu", "dob")
    extra = pl.concat([
        sdob.filter(pl.col(k) != "").join(rdob.filter(pl.col(k) != ""), on=[k, "dob"]).select("srow", "rrow")
        for k in ("nama", "ibu")]).unique()
    if extra.height:
        si, ri = extra["srow"].to_numpy(), extra["rrow"].to_numpy()
        sim_n = _sim_pairs([s_side.nama[i] for i in si], [r_side.nama[j] for j in ri])
        sim_i = _sim_pairs([s_side.ibu[i] for i in si], [r_side.ibu[j] for j in ri])
        out_s.append(si)
        out_r.append(ri)
        out_c.append(_levels(s_side, si, r_side, ri, sim_n, sim_i, s_ibu_missing[si] | r_ibu_missing[ri]))
        pairs += extra.height
    cand = Candidates(
        np.concatenate(out_s) if out_s else np.zeros(0, np.int64),
        np.concatenate(out_r) if out_r else np.zeros(0, np.int64),
        np.concatenate(out_c) if out_c else np.zeros(0, np.int32), pairs, joined.height)
    # a student met in two blocks (school kabupaten = KK kabupaten) scores the same pair twice: keep one
    if cand.sid.size:
        key = cand.sid * (rframe.height + 1) + cand.pid
        _, first = np.unique(key, return_index=True)
        cand = Candidates(cand.sid[first], cand.pid[first], cand.code[first], pairs, joined.height)
    cand.sid = stu["sid"].to_numpy()[cand.sid]  # row positions -> student ids
    return cand, s_side, r_side, stu, rframe


def random_codes(s_side: _Side, r_side: _Side, n: int, seed: int) -> np.ndarray:
    """Pattern codes of ``n`` random student-registry pairs (for u)."""
    rng = np.random.default_rng(seed)
    if not s_side.nama or not r_side.nama:
        return np.zeros(0, dtype=np.int32)
    si = rng.integers(0, len(s_side.nama), n)
    ri = rng.integers(0, len(r_side.nama), n)
    sim_n = _sim_pairs([s_side.nama[i] for i in si], [r_side.nama[j] for j in ri])
    sim_i = _sim_pairs([s_side.ibu[i] for i in si], [r_side.ibu[j] for j in ri])
    missing = np.array([not s_side.ibu[i] or not r_side.ibu[j] for i, j in zip(si, ri, strict=True)])
    return _levels(s_side, si, r_side, ri, sim_n, sim_i, missing)


# ---- decisions ---------------------------------------------------------------------------------------

@dataclass
class FallbackResult:
    decisions: pl.DataFrame  # sid, band, no_kk, pid, probability, weight, margin, code, other_no_kk
    model: Model
    stats: dict[str, float] = field(default_factory=dict)


DECISION_SCHEMA = {
    "sid": pl.Int64, "band": pl.String, "no_kk": pl.String, "pid": pl.Int64, "probability": pl.Float64,
    "weight": pl.Float64, "margin": pl.Float64, "code": pl.Int32, "other_no_kk": pl.String, "other_pid": pl.Int64,
}


def _vetoed(codes: np.ndarray) -> np.ndarray:
    """Patterns that never auto-link whatever their weight (the model assumes independent fields; these
    combinations are where that fails: a homonym, a parent, a sibling)."""
    lv = decode(codes.astype(np.int64))
    nama, lahir, ibu, nik, kk = lv[:, 0], lv[:, 1], lv[:, 2], lv[:, 5], lv[:, 6]
    strong = (nik <= 2) | (kk == 0)  # a near NIK or the family's KK number
    return (((ibu == 3) & ~((nik <= 1) & (kk == 0))) | ((ibu == 2) & ~strong) | ((nama >= 3) & ~strong)
            | ((lahir >= 2) & ~strong) | ((nama >= 4) & (lahir >= 3)))


def agreeing_fields(codes: np.ndarray) -> np.ndarray:
    """How many identity fields agree in each pattern: the name (>= 0.88), the birth date (equal or near),
    the mother's name (>= 0.92), the NIK (equal or one edit), the KK number; 0 when neither name agrees.
    Region and sex are left out (every candidate of a block shares the kabupaten, half of them the sex),
    and so is a NIK differing in the serial or the sex digit only (it says the same birth date and
    kecamatan again)."""
    lv = decode(codes.astype(np.int64))
    name, mother = lv[:, 0] <= 2, lv[:, 2] <= 1
    count = (name.astype(np.int8) + mother + (lv[:, 1] <= 1) + (lv[:, 5] <= 1) + (lv[:, 6] == 0))
    return np.where(name | mother, count, 0)


def decide(cand: Candidates, rframe: pl.DataFrame, model: Model, settings: Settings) -> pl.DataFrame:
    """Best candidate per student, the runner-up in another family and in the same family, and the band."""
    if cand.sid.size == 0:
        return pl.DataFrame(schema=DECISION_SCHEMA)
    weights = model.pattern_weights()[cand.code] + model.prior_weight()
    pairs = pl.DataFrame({"sid": cand.sid, "rrow": cand.pid, "w": weights, "code": cand.code}).join(
        rframe.select(pl.int_range(pl.len(), dtype=pl.Int64).alias("rrow"), "pid", "no_kk"), on="rrow")
    pairs = pairs.sort(["sid", "w"], descending=[False, True])
    best = pairs.group_by("sid", maintain_order=True).first()
    rest = pairs.join(best.select("sid", pl.col("no_kk").alias("b_kk"), pl.col("pid").alias("b_pid")), on="sid")
    other_family = rest.filter(pl.col("no_kk") != pl.col("b_kk")).group_by("sid", maintain_order=True).agg(
        pl.col("w").first().alias("w_other"), pl.col("no_kk").first().alias("other_no_kk"),
        pl.col("pid").first().alias("other_pid"))
    same_family = rest.filter((pl.col("no_kk") == pl.col("b_kk")) & (pl.col("pid") != pl.col("b_pid"))).group_by(
        "sid", maintain_order=True).agg(pl.col("w").first().alias("w_sibling"))
    d = best.join(other_family, on="sid", how="left").join(same_family, on="sid", how="left")
    veto = pl.Series(_vetoed(d["code"].to_numpy()))
    prob = 1.0 / (1.0 + np.exp2(-d["w"].to_numpy()))
    d = d.with_columns(pl.Series("probability", prob), veto.alias("veto"),
                       pl.Series("agreeing", agreeing_fields(d["code"].to_numpy())),
                       (pl.col("w") - pl.col("w_other")).fill_null(99.0).alias("margin"),
                       (pl.col("w") - pl.col("w_sibling")).fill_null(99.0).alias("margin_sibling"))
    auto = (pl.col("probability") >= settings.auto_p) & (pl.col("margin") >= settings.margin) & ~pl.col("veto")
    # review only for a candidate a person could confirm: probable, and agreeing on at least two identity
    # fields (whatever the fitted model says, a stranger of the same block agreeing on none is no case)
    review = (pl.col("probability") >= settings.review_p) & (pl.col("agreeing") >= settings.review_min_fields)
    band = pl.when(auto).then(pl.lit("auto")).when(review).then(pl.lit("review")).otherwise(pl.lit("none"))
    d = d.with_columns(band.alias("band")).with_columns(
        pl.when(pl.col("margin_sibling") >= settings.margin).then(pl.col("pid")).alias("pid"))
    return d.select("sid", "band", "no_kk", "pid", "probability", pl.col("w").alias("weight"), "margin", "code",
                    "other_no_kk", "other_pid").select([pl.col(c).cast(t) for c, t in DECISION_SCHEMA.items()])


def match_share(stu: pl.DataFrame, reg: Registry) -> float:
    """The share of students whose family the deterministic pass finds (verified keys), bounded to
    [MIN_SHARE, 1]: the lower bound keeps a run whose NIKs are mostly unusable from ruling the fallback out."""
    from services.sync_hub.matching import deterministic

    det = deterministic.link(stu, reg)
    linked = det.filter(pl.col("outcome").is_in(["PKH_RECIPIENT", "NOT_PKH_RECIPIENT"])).height
    return min(1.0, max(MIN_SHARE, linked / max(det.height, 1)))


MIN_SHARE = 0.25


def train(stu_all: pl.DataFrame, reg: Registry, settings: Settings, share: float | None = None) -> Model:
    """u from random pairs; the prior from the deterministic links (``share`` of students with a family in
    the registry, one person each among the registry's: share / persons); m by EM over the candidate pairs
    of a sample of students."""
    sample = stu_all if stu_all.height <= settings.train_students else stu_all.sample(
        settings.train_students, seed=settings.seed)
    cand, s_side, r_side, _, _ = candidates(sample, reg)
    n_random = min(settings.u_pairs, max(20_000, 20 * sample.height))  # enough for u; small runs stay quick
    u = estimate_u(random_codes(s_side, r_side, n_random, settings.seed))
    counts = np.bincount(cand.code, minlength=N_PATTERNS).astype(np.float64)
    share = match_share(sample, reg) if share is None else min(1.0, max(MIN_SHARE, share))
    prior = min(share / max(reg.persons.height, 1), 0.5)
    return fit(counts, u, prior=prior)


def run(stu: pl.DataFrame, reg: Registry, model: Model, settings: Settings | None = None) -> FallbackResult:
    settings = settings or Settings()
    cand, _, _, _, rframe = candidates(stu, reg)
    decisions = decide(cand, rframe, model, settings)
    return FallbackResult(decisions, model, {"pairs_scored": cand.pairs_scored, "blocks": cand.blocks,
                                             "candidate_pairs": int(cand.sid.size)})


def evidence(code: int) -> dict[str, str]:
    """The level of every comparison in a pattern code: which fields agreed, and how strongly."""
    levels = decode(np.array([code], dtype=np.int64))[0]
    return {name: labels[lv] for (name, labels, _), lv in zip(FIELDS, levels, strict=True)}
