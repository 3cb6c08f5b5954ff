"""Fallback linking when no usable NIK links: blocking, a Fellegi-Sunter model, three bands.

Candidates are the union of the blocking rules (``RULES``): registry persons in the same block (kabupaten,
birth year), where a student's kabupaten is taken from every place its record names (the school's region, the
KK number's prefix, the NIK's prefix even when the NIK is invalid), so a family that moved or a wrong prefix
still meets its block; persons of such a kabupaten with the same name words in any order (a missing or
mistyped birth date); nationwide, the same name words and birth date (a school in another kabupaten), and the
same mother's name and birth date; nationwide, the same birth date and initials (first letters of the first
and last name words: a name typo and a school elsewhere), and for a record without a birth date the same
initials in its kabupaten. A pair several rules find is scored once. For a record without a key (no NIK digits,
no KK number) that these leave without an auto link, a rescue rule (``RESCUE_RULES``: the same birth date and a
letter in common between the initials) is scored in a second pass. Each candidate pair gets one level
per comparison (``levels``: the name (token-insensitive) and the mother's name, the birth date, sex, region,
NIK and KK number, each with a "missing" level; the table of levels is in that module's docstring).

Weights are Fellegi-Sunter log2(m/u): ``u`` from random student-registry pairs (what agreement looks like
by chance), the prior (the chance that a random pair matches) from the deterministic links or, when larger,
the share of students the fitted model expects a match for, ``m`` by
expectation-maximisation over the candidate pairs' comparison patterns with u and the prior fixed
(unsupervised, as Splink does). A missing value weighs nothing. A pair is decided with the odds that its
record has a person in the registry spread over the registry's persons (``record_prior``) when they are larger
than the per-pair prior's: when the deterministic pass links few, as without NIKs.

The model can be fitted without the whole registry in memory (``train``): the candidate pairs need only the
persons the sampled students' blocks and keys reach (a slice of the registry), the prior the registry's true
size (``RegistryStats``), and u a uniform random sample of registry persons (``replica.sample``), not the
slice, which holds the students' own kabupaten and birth years and so would make agreement look common.

Scoring runs block by block: names with rapidfuzz ``cdist`` (one matrix per block), the rest with numpy
broadcasting; pairs never become Python objects. Each student keeps its best candidate, the best one in
another family and the best one in the same family. Units of pairs are scored on ``Settings.threads`` threads
(``_Blocks.map``: in order, the same results as one thread), the other rules' joins while the first rule's
blocks are scored.

Bands: ``auto`` (link) when the match probability is at least ``auto_p`` (``auto_p_keys_against`` when a key
disagrees: ``keys_against``), the best candidate beats every
other family's by ``margin`` bits and no veto holds (the mother's name disagrees; the name or the birth
date is far without a near NIK to make up for it — the latter lifted where the registry's own persons show such
lookalikes rare: ``lookalikes``, ``veto_table``, and never against another sex, NIK, KK number or mother:
``contradicted``; the record's NIK typed for a parent too: ``REVIEW_ONLY_NIK_RULES``); ``review`` when the
probability is at least
``review_p`` and at least ``review_min_fields`` identity fields agree; otherwise no link. A person (not
only the family) is named only when it also beats its own family's other members by the margin: twins are
linked to their family, never to one twin by a guess.
"""

from __future__ import annotations

import functools
import itertools
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
import polars as pl

from services.sync_hub.matching.frames import SHARED_WITH_PARENT, Registry, RegistryStats, in_background
from services.sync_hub.matching.levels import (
    FIELDS,
    FIELDS_SCHEMA,
    N_PATTERNS,
    SIZES,
    Side,
    agreeing_fields,
    decode,
    ibu_matrix,
    matrix_codes,
    name_date_vetoed,
    name_matrix,
    pair_codes,
    pattern_codes,
    prepare_students,
    registry_side,
    sorted_words,
    standing_vetoed,
    student_side,
    vetoed,
)

# the comparisons whose joint chance among non-matches is measured on the registry itself (``lookalikes``): name,
# birth date, region (indexes into ``FIELDS``)
LOOKALIKE_FIELDS = (0, 1, 4)
LOOKALIKE_SHAPE = tuple(SIZES[f] for f in LOOKALIKE_FIELDS)

# ---- model -------------------------------------------------------------------------------------------

@dataclass
class Model:
    """Fellegi-Sunter parameters: per field, m and u per level; the prior probability of a match."""

    m: list[np.ndarray]
    u: list[np.ndarray]
    prior: float
    iterations: int = 0
    stats: dict[str, float] = field(default_factory=dict)  # how it was fitted (students, pairs, u pairs)
    # the chance that a record the fallback decides has its person in the registry (``record_prior``); None:
    # decide with ``prior`` (a model stored before it existed)
    record_share: float | None = None
    # how often distinct registry persons look alike (``lookalikes``): pair counts per (name, birth date, region)
    # level, over ``lookalike_persons`` sampled persons; None: not measured, every veto holds (``veto_table``)
    lookalikes: np.ndarray | None = None
    lookalike_persons: int = 0
    _veto: tuple[tuple[object, ...], np.ndarray] | None = field(default=None, compare=False, repr=False)

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

    def decision_prior_weight(self) -> float:
        """The prior (bits) a candidate pair is decided with: the odds that the record has its person in the
        registry, spread over the registry's persons (``record_prior``), when that is known and larger than
        ``prior``'s; else ``prior``'s odds."""
        own = self.prior_weight()
        persons = self.stats.get("registry_persons")
        if self.record_share is None or not persons:
            return own
        return max(own, record_weight(self.record_share, persons))

    def to_json(self) -> dict[str, object]:
        return {"schema": FIELDS_SCHEMA, "m": [x.tolist() for x in self.m], "u": [x.tolist() for x in self.u],
                "prior": self.prior, "iterations": self.iterations, "record_share": self.record_share,
                "registry_persons": self.stats.get("registry_persons"),
                "lookalikes": None if self.lookalikes is None else self.lookalikes.astype(int).tolist(),
                "lookalike_persons": self.lookalike_persons}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Model:
        """The inverse of ``to_json``; ValueError when it was fitted over other comparisons or levels."""
        if data.get("schema") != FIELDS_SCHEMA:
            raise ValueError("the model was fitted over other comparisons or levels")
        m = [np.asarray(x, dtype=np.float64) for x in data["m"]]  # type: ignore[attr-defined]
        u = [np.asarray(x, dtype=np.float64) for x in data["u"]]  # type: ignore[attr-defined]
        if [len(x) for x in m] != list(SIZES) or [len(x) for x in u] != list(SIZES):
            raise ValueError("the model's levels do not match the comparisons")
        model = cls(m, u, float(data["prior"]), int(data.get("iterations", 0)))  # type: ignore[arg-type]
        if data.get("record_share") is not None and data.get("registry_persons"):
            model.record_share = float(data["record_share"])  # type: ignore[arg-type]
            model.stats["registry_persons"] = int(data["registry_persons"])  # type: ignore[arg-type,call-overload]
        looks = data.get("lookalikes")
        if looks is not None and data.get("lookalike_persons") and data.get("registry_persons"):
            counts = np.asarray(looks, dtype=np.float64)
            if counts.shape != LOOKALIKE_SHAPE:
                raise ValueError("the model's lookalike counts do not match the comparisons")
            model.lookalikes, model.lookalike_persons = counts, int(data["lookalike_persons"])  # type: ignore[call-overload]
            model.stats["registry_persons"] = int(data["registry_persons"])  # type: ignore[call-overload]
        return model

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


def default_m() -> list[np.ndarray]:
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
        return Model(m or default_m(), u, prior, 0)
    counts = codes_counts[nz].astype(np.float64)
    levels = decode(nz)
    m = [x.copy() for x in (m or default_m())]
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
    # The auto band: the fallback links by itself a candidate of match probability >= auto_p (and the margin, and no
    # veto). 0.99 since h-febrl4 (0.999 before), a policy choice for a welfare registry, said plainly: a link at the
    # band's edge is wrong once in a hundred by the model's own account. Why it is acceptable: (1) what the higher
    # band also stood for are now rules no band moves — another mother, name and birth date both far, a name or
    # birth date far without a key unless the registry measures such lookalikes rare (``veto_table``), never lifted
    # against another sex, NIK, KK number or mother (``contradicted``), a NIK typed for a parent too
    # (``REVIEW_ONLY_NIK_RULES``), 6 bits over every other family and over siblings to name a person; (2) measured:
    # on the worldgen worlds (x1, x3, x6, field errors) 0.99 and 0.999 decide every student alike but one (x6,
    # fallback alone: a right link, review -> auto), the model expects 0.0 wrong among their auto links; on FEBRL
    # 4, 46 more right links and none wrong, 0.23 expected wrong among 4,639 (docs/benchmarks.md, h-febrl4). A
    # fallback link is *pending confirmation* (``LINKED_BY_FALLBACK``): it may add a benefit, never take one away.
    auto_p: float = 0.99
    # The auto band of a pair a key speaks against (``keys_against``: the NIK differs in its serial or more, or the
    # KK number differs): the band before h-febrl4. The band was lowered for what a record without keys can show;
    # a key that disagrees is evidence of another person the model weighs only by its marginal m/u (measured: at
    # 200k x 1M, a student not in the registry, name, birth date, mother's name and sex equal to a person's of
    # another family in the same kabupaten, NIK and KK number other, p = 0.991: linked at 0.99, an adversarial wrong
    # person). On the worldgen worlds every true auto link a key speaks against has p >= 0.999.
    auto_p_keys_against: float = 0.999
    review_p: float = 0.5
    margin: float = 6.0  # bits the best candidate must beat other families (and, for a person, siblings) by
    review_min_fields: int = 2  # identity fields that must agree for the review band (see ``agreeing_fields``)
    u_pairs: int = 200_000
    train_students: int = 6_000  # EM needs pattern counts, not every student: 6,000 give ~0.7M candidate pairs
    # registry persons whose lookalikes among the other persons are counted (``lookalikes``); 0: not measured
    lookalike_persons: int = 5_000
    seed: int = 1
    # threads that score candidate pairs (``_Blocks.map``; 0: one per core); changes no result, only the wall time
    threads: int = 0

    def scoring_threads(self) -> int:
        return self.threads if self.threads > 0 else os.cpu_count() or 1


@dataclass
class _Registry:
    """The registry sorted by block (kabupaten, birth year), once per registry (cached on it): a block is a
    contiguous slice, so scoring one takes views, not copies."""

    side: Side
    pid: np.ndarray  # sorted position -> the person's pid
    fid: np.ndarray  # sorted position -> family id (int64)
    blocks: pl.DataFrame  # kab, yr, start, end, bid (the block's id)
    frame: pl.DataFrame  # pid, words, ini, ibu, dob, kab, yr (sorted), for the other blocking rules
    bid: np.ndarray  # sorted position -> its block's id (int64), -1 outside every block (no kabupaten or year)


REGISTRY = "fallback_registry"  # the key of ``_registry``'s result in the registry's cache


def prepare(reg: Registry) -> None:
    """Build the registry's block order (``_registry``) on a background thread (``Registry.prepare``), while
    the caller makes the students' frame and runs the deterministic pass."""
    reg.prepare(REGISTRY, _build_registry)


def _registry(reg: Registry) -> _Registry:
    return reg.cached(REGISTRY, _build_registry)


def _build_registry(reg: Registry) -> _Registry:
    old = reg.kk_lama.group_by("no_kk").agg(pl.col("old_kk").last())
    persons = reg.persons.with_columns(pl.col("nama").fill_null("").alias("_n"))
    frame = persons.join(old, on="no_kk", how="left", maintain_order="left").join(
        name_keys(persons["_n"]), on="_n", how="left", maintain_order="left").drop("_n").with_columns(
        pl.col("wil").str.slice(0, 4).alias("kab"), pl.col("dob").dt.year().alias("yr"),
    ).join(family_ids(persons["no_kk"]), on="no_kk", how="left", maintain_order="left").sort(
        "kab", "yr", "pid", nulls_last=True)
    blocks = frame.select("kab", "yr").with_row_index("row").drop_nulls().group_by("kab", "yr").agg(
        pl.col("row").min().alias("start"), (pl.col("row").max() + 1).alias("end")).sort("start").with_row_index(
        "bid").with_columns(pl.col("bid").cast(pl.Int64))
    bid = np.full(frame.height, -1, dtype=np.int64)
    starts = blocks["start"].to_numpy().astype(np.int64)
    lens = blocks["end"].to_numpy().astype(np.int64) - starts
    if lens.size:  # a block is a contiguous run of positions
        bid[np.arange(int(lens.sum())) + np.repeat(starts - np.r_[0, np.cumsum(lens)[:-1]], lens)] = np.repeat(
            blocks["bid"].to_numpy(), lens)
    # the names as lists too (``Interned.listed``): a block's names are then a slice of them
    return _Registry(registry_side(frame).listed(), frame["pid"].to_numpy(), frame["fid"].fill_null(-1).to_numpy(),
                     blocks,
                     frame.select("pid", "words", "ini", "ibu", "dob", "kab", "yr"), bid)


def family_ids(no_kk: pl.Series) -> pl.DataFrame:
    """``no_kk`` -> ``fid``: an int64 per distinct KK number, numbered in order of appearance (only equal or not is
    read: one family or two), by a hash join, not a sort of every person's KK number (a dense rank)."""
    return no_kk.drop_nulls().unique(maintain_order=True).to_frame("no_kk").with_row_index("fid").with_columns(
        pl.col("fid").cast(pl.Int64))


def name_keys(names: pl.Series) -> pl.DataFrame:
    """Per distinct name of ``names`` (normalised, nulls filled with ""; column ``_n``): ``nsort`` (its words
    sorted, the side's token-sort name), ``words`` (``name_words``) and ``ini`` (``name_initials``). Computed
    once per distinct name, not per person: a registry repeats its names (995,109 persons, 41,295 names in
    the benchmark's world), and splitting and sorting every name's words was a second of CPU per million."""
    return pl.DataFrame({"_n": names.unique()}).with_columns(sorted_words(pl.col("_n")).alias("nsort")).with_columns(
        name_words(pl.col("_n"), pl.col("nsort")).alias("words"), name_initials(pl.col("_n")).alias("ini"))


MAX_WORDS = 5  # a name of more words has no ``name_words`` key (its permutations are what a slice looks up)


def name_words(name: pl.Expr, words: pl.Expr | None = None) -> pl.Expr:
    """The blocking key of a normalised name: its words in alphabetical order (a name written in another order
    has the same key); null for an empty name or one of more than ``MAX_WORDS`` words. ``words``: the name's
    ``sorted_words`` when already computed."""
    n = name.fill_null("")
    return pl.when((n != "") & (n.str.count_matches(" ") < MAX_WORDS)).then(sorted_words(n) if words is None
                                                                           else words)


def initials(name: str) -> str | None:
    """The initials blocking key of a normalised name: the first letters of its first and last words, in
    alphabetical order (``initials("santoso budi") == initials("budi santoso") == "bs"``); None for an empty
    name. A typo rarely hits a word's first letter: two names a typo apart keep their initials."""
    words = name.split()
    return "".join(sorted((words[0][0], words[-1][0]))) if words else None


def name_initials(name: pl.Expr) -> pl.Expr:
    """``initials`` as a polars expression."""
    first, last = name.str.extract(r"^\s*(\S)"), name.str.extract(r"(\S)\S*\s*$")
    return pl.when(first <= last).then(first + last).otherwise(last + first)


# The blocking rules (their union is the candidate set; a pair several rules find is scored once):
RULES = {
    "kabupaten x birth year": "every person of the (kabupaten, birth year) block of each kabupaten the record names",
    "kabupaten x name": "the same name's words (any order) in a kabupaten the record names, any birth date",
    "name x birth date": "the same name's words (any order) and birth date, nationwide",
    "mother x birth date": "the same mother's name and birth date, nationwide",
    "kabupaten x mother": "the same mother's name in a kabupaten the record names, any birth date: a child's name "
                          "and birth date both mistyped or missing",
    "birth date x initials": "the same birth date and initials (``initials``), nationwide: a name mistyped and a "
                             "school in another kabupaten",
    "kabupaten x initials": "for a record without a birth date, the same initials in a kabupaten the record "
                            "names: a name mistyped and the birth date missing",
}
# The rules whose pairs EM learns m from (``pattern_counts``). "kabupaten x mother" finds candidates for scoring
# only: most of its pairs are a child's siblings (same mother, KK number and kecamatan), which agree on what a
# match agrees on but the child's own name and birth date; counted, EM takes them for matches and learns that a
# name or a birth date that disagrees costs next to nothing (measured: "other" name and birth date weighing
# -0.6 bits instead of -6 and -7.6).
# The initials rules are scoring-only too: their pairs are mostly strangers who share a birth date or a kabupaten
# and two letters, which u already describes, and siblings (one family name's initial).
TRAINING_RULES = tuple(r for r in RULES if r not in ("kabupaten x mother", "birth date x initials",
                                                     "kabupaten x initials"))
# A rescue rule: its pairs are scored only for the records that carry no key (neither NIK digits nor a KK number:
# ``rescued``) and that the rules above leave without an auto link (``run``, a second pass over those records
# alone). Nationwide, "the same birth date" reaches many persons: scored for every record, it cost +17-29 % of the
# 200k x 1M pipeline's CPU (h-febrl3); and a record with a key that did not link is mostly one whose family is not
# in the registry (measured: 49,787 of the 49,788 students the fallback decides at 200k x 1M are left without an
# auto link), where a wider look finds strangers. A record without keys has only its name, birth date and region:
# the rule is for it. Scoring-only, as the initials rules.
RESCUE_RULES = {
    "birth date x an initial": "the same birth date and a letter in common between the initials (``initials``), "
                               "nationwide: a name word dropped, replaced or split (``grubb`` / ``luke grubb``) and a "
                               "school in another kabupaten",
}


def _student_blocks(stu: pl.DataFrame) -> pl.DataFrame:
    """(row, kab, yr) for every kabupaten the record names: school region, KK prefix, NIK prefix."""
    rows = stu.with_row_index("row").with_columns(pl.col("row").cast(pl.Int64))
    kab = pl.concat([
        rows.select("row", pl.col("wil").str.slice(0, 4).alias("kab")),
        rows.select("row", pl.col("no_kk").str.slice(0, 4).alias("kab")),
        rows.select("row", pl.col("nik_digits").str.slice(0, 4).alias("kab")),
    ]).drop_nulls().filter(pl.col("kab").str.len_chars() == 4).unique()
    return kab.join(rows.select("row", pl.col("dob").dt.year().alias("yr")), on="row")


# How the candidate pairs are cut into segments and scoring units; the scalar path (``scalar_fallback``) cuts a
# check's pairs the same way, so that both break ties alike (public for that reason)
SMALL_BLOCK_PAIRS = 5_000  # pairs: a block smaller than this is scored with others as explicit pairs
BATCH_PAIRS = 500_000  # pairs per unit of small blocks
# units scored ahead of the consumer (``_Blocks.map``): pairs per thread, and units at most (their results wait)
AHEAD_PAIRS = 2 * BATCH_PAIRS
MAX_AHEAD = 64


# one unit of scored pairs: (student row per segment, segment starts, registry position per pair, codes per pair)
Unit = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
T = TypeVar("T")
R = TypeVar("R")


@dataclass
class _Blocks:
    """The candidate pairs of a set of students, produced block by block (never all at once)."""

    stu: pl.DataFrame
    s: Side
    r: _Registry
    groups: list[tuple[np.ndarray, int, int]]  # (student rows, registry start, registry end)
    # the other rules' pairs (student row, registry sorted position), or their computation still running
    # (``_blocks``: while the first rule's blocks are scored)
    extra_pairs: tuple[np.ndarray, np.ndarray] | Future[tuple[np.ndarray, np.ndarray]]
    pairs: int = 0
    threads: int = 1  # units scored at once (``Settings.threads``)

    @property
    def extra(self) -> tuple[np.ndarray, np.ndarray]:
        """The other rules' pairs (student row, registry sorted position), waited for when still computed."""
        if isinstance(self.extra_pairs, Future):
            self.extra_pairs = self.extra_pairs.result()
        return self.extra_pairs

    def each(self) -> Iterator[Unit]:
        """The pairs in units of segments: ``(student row per segment, segment starts, registry position per
        pair, codes per pair)``, a segment being one student against one whole block. A large block is one
        unit, scored as a matrix (rapidfuzz ``cdist``); small blocks are gathered into units of about
        ``BATCH_PAIRS`` explicit pairs (``cpdist``), so that numpy's per-call cost is paid per unit, not per block."""
        return self.map(lambda *unit: unit)

    def map(self, fn: Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], R]) -> Iterator[R]:
        """``fn(*unit)`` of every unit of ``each``, in ``each``'s order. With ``threads`` > 1 the units are scored
        and ``fn`` applied on that many threads (rapidfuzz and numpy release the GIL for the bulk of the work),
        ahead of the consumer by at most ``2 * threads`` units or, when they are small, ``AHEAD_PAIRS`` pairs per
        thread (``ordered_map``), so memory stays that of a few units. Each unit is computed alone and the results
        come back in order: the same results whatever the number of threads."""
        def one(task: tuple[int, Callable[[], Unit]]) -> tuple[int, R]:
            unit = task[1]()
            return unit[3].size, fn(*unit)

        for n, out in ordered_map(one, self._tasks(), self.threads, weight=lambda task: task[0],
                                  budget=AHEAD_PAIRS * self.threads):
            self.pairs += n
            yield out

    def _tasks(self) -> Iterator[tuple[int, Callable[[], Unit]]]:
        """Every unit of ``each`` as (its pairs, a function that scores it), in the order of ``each``."""
        small: list[tuple[np.ndarray, int, int]] = []
        size = 0
        workers = 1 if self.threads > 1 else None  # parallel across units, not inside rapidfuzz as well
        for rows, start, end in self.groups:
            nr = end - start
            if rows.size * nr >= SMALL_BLOCK_PAIRS:
                yield rows.size * nr, functools.partial(self._matrix, rows, start, end, workers)
                continue
            small.append((rows, start, end))
            size += rows.size * nr
            if size >= BATCH_PAIRS:
                yield size, functools.partial(self._pairs, small, workers)
                small, size = [], 0
        if small:
            yield size, functools.partial(self._pairs, small, workers)
        yield from self._extra_tasks(workers)

    def _matrix(self, rows: np.ndarray, start: int, end: int, workers: int | None) -> Unit:
        """A large block as one unit: a matrix of its students against its persons."""
        nr = end - start
        block = slice(start, end)
        codes = matrix_codes(self.s.take(rows, names=False), self.r.side.take(block, names=False), workers=workers,
                             names=(self.s.names_at(rows), self.r.side.names_at(block)))
        return rows, np.arange(0, codes.size, nr), np.tile(np.arange(start, end), rows.size), codes.ravel()

    def _extra_tasks(self, workers: int | None) -> Iterator[tuple[int, Callable[[], Unit]]]:
        """The other rules' pairs (sorted by student) in units of about ``BATCH_PAIRS`` pairs cut at student
        boundaries, a segment being one student against all its pairs of these rules."""
        si, _ = self.extra
        if not si.size:
            return
        first = np.flatnonzero(np.r_[True, si[1:] != si[:-1]])  # each student's first pair
        bounds = [0]
        cuts = np.searchsorted(first, np.arange(BATCH_PAIRS, si.size, BATCH_PAIRS))
        for at in first[cuts[cuts < first.size]].tolist():  # past the last student's first pair: no cut
            if at > bounds[-1]:
                bounds.append(at)
        bounds.append(si.size)
        for lo, hi in itertools.pairwise(bounds):
            yield hi - lo, functools.partial(self._extra_unit, lo, hi, workers)

    def _extra_unit(self, lo: int, hi: int, workers: int | None) -> Unit:
        rows, rpos = self.extra[0][lo:hi], self.extra[1][lo:hi]
        codes = pair_codes(self.s.take(rows), self.r.side.take(rpos), workers=workers)
        starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
        return rows[starts], starts, rpos, codes

    def _pairs(self, blocks: list[tuple[np.ndarray, int, int]], workers: int | None) -> Unit:
        """Small blocks as one unit: names compared per block (``cdist``, cheap on one thread), every other
        comparison on the unit's explicit pairs at once."""
        sim_n, sim_i = [], []
        for rows, start, end in blocks:
            a, r = self.s.names_at(rows), self.r.side.names_at(slice(start, end))
            sim_n.append(name_matrix(a, r, workers=workers).ravel())
            sim_i.append(ibu_matrix(a.ibu, r.ibu, workers=workers).ravel())
        srows = np.concatenate([np.repeat(rows, end - start) for rows, start, end in blocks])
        rpos = np.concatenate([np.tile(np.arange(start, end), rows.size) for rows, start, end in blocks])
        lens = np.concatenate([np.full(rows.size, end - start) for rows, start, end in blocks])
        codes = pattern_codes(self.s.take(srows, names=False), self.r.side.take(rpos, names=False),
                              np.concatenate(sim_n), np.concatenate(sim_i), pairwise=True)
        starts = np.r_[0, np.cumsum(lens)[:-1]]  # a segment: one student against one whole block
        return np.concatenate([rows for rows, _, _ in blocks]), starts, rpos, codes


def ordered_map(fn: Callable[[T], R], items: Iterable[T], threads: int, weight: Callable[[T], int] | None = None,
                budget: int = 0) -> Iterator[R]:
    """``map(fn, items)`` on ``threads`` threads, results in the order of ``items``, at most ``2 * threads``
    items submitted ahead of the one the consumer waits for; plain ``map`` for one thread. With ``weight``, more
    while the items submitted and not yet consumed weigh at most ``budget`` together (``MAX_AHEAD`` items at
    most): light items then do not leave a thread idle behind a heavy one at the head (measured: a unit of
    500,000 small-block pairs followed by dozens of one-block matrices of ~10,000 pairs ran alone, the other
    thread done with the 4 matrices it was allowed, ~1 s of one core at 200k x 1M)."""
    if threads <= 1:
        yield from map(fn, items)
        return
    with ThreadPoolExecutor(threads, thread_name_prefix="fallback") as pool:
        pending: deque[tuple[Future[R], int]] = deque()
        held = 0
        for item in items:
            w = weight(item) if weight is not None else 0
            pending.append((pool.submit(fn, item), w))
            held += w
            while len(pending) > 2 * threads and (weight is None or held > budget or len(pending) > MAX_AHEAD):
                done, w = pending.popleft()
                held -= w
                yield done.result()
        while pending:
            yield pending.popleft()[0].result()


def _blocks(stu: pl.DataFrame, reg: Registry, rules: Iterable[str] = tuple(RULES), threads: int = 1) -> _Blocks:
    """The candidate pairs of ``stu``: the first rule's blocks, and the pairs of the other ``rules`` (scored on
    ``threads`` threads, ``_Blocks.map``)."""
    stu = prepare_students(stu)
    r = _registry(reg)
    s = student_side(stu).listed()
    member = _student_blocks(stu)
    joined = member.group_by("kab", "yr").agg(pl.col("row")).join(r.blocks, on=["kab", "yr"]).sort("start")
    groups = [(np.asarray(rows, dtype=np.int64), start, end) for rows, start, end in
              zip(joined["row"].to_list(), joined["start"].to_list(), joined["end"].to_list(), strict=True)]
    extra = functools.partial(_extra_pairs, stu, r, member, tuple(rules))
    # with threads, the other rules' joins run while the first rule's blocks are scored (they come last)
    pairs = in_background(extra, "fallback-candidates") if threads > 1 else extra()
    return _Blocks(stu, s, r, groups, pairs, threads=threads)



def _extra_pairs(stu: pl.DataFrame, r: _Registry, member: pl.DataFrame, rules: Iterable[str]
                 ) -> tuple[np.ndarray, np.ndarray]:
    """The other rules' pairs as (student row, registry position), sorted, each pair once, those a block of the
    first rule already holds left out (the person's block is one the student names). Integer arithmetic on one
    int64 key per pair (row * persons + position), never a frame of pairs: at 50,000 students x 2.8M persons
    they are millions, and a polars unique / anti-join / sort over them held over a gigabyte at once."""
    n = max(len(r.pid), 1)
    parts = [p["row"].to_numpy() * n + p["rpos"].to_numpy() for rule, p in _rule_pairs(stu, r, member).items()
             if rule in rules and p.height]
    if not parts:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    key = sorted_unique(np.concatenate(parts))  # sorted by (row, rpos), each pair once
    del parts
    row, rpos = np.divmod(key, n)
    del key
    nb = max(r.blocks.height, 1)
    met = member.join(r.blocks.select("kab", "yr", "bid"), on=["kab", "yr"])  # the blocks each student meets
    held = sorted_unique(met["row"].to_numpy() * nb + met["bid"].to_numpy())
    pb = r.bid[rpos]
    at = row * nb + pb
    i = np.minimum(np.searchsorted(held, at), max(held.size - 1, 0))
    inside = (pb >= 0) & (held[i] == at) if held.size else np.zeros(row.size, dtype=bool)
    return row[~inside], rpos[~inside]


def counted_unique(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(a, return_counts=True)`` of an integer array, by a stable sort: the keys repeat (a student's
    pairs of one pattern) and come in sorted runs (a unit's students in order), where numpy's default quicksort
    took 2.7x as long (748,000 keys of the training sample, 86,000 distinct: 88 against 32 ms, on the main
    thread)."""
    out = np.sort(a, axis=None, kind="stable")
    if not out.size:
        return out, np.zeros(0, dtype=np.int64)
    first = np.flatnonzero(np.r_[True, out[1:] != out[:-1]])
    return out[first], np.diff(np.r_[first, out.size])


def sorted_unique(a: np.ndarray) -> np.ndarray:
    """``np.unique(a)`` of an integer array, by a sort: numpy 2.3+ finds the distinct values of a plain
    ``np.unique`` with a hash set first, which on millions of distinct int64 keys took ~100x the CPU of
    sorting them (measured: 18 s against 0.18 s for 12M keys, numpy 2.4.6). A stable sort (timsort), which
    takes the runs the keys come in (joins' outputs, units in order): 2.24M keys of the other rules' pairs at
    200k x 1M, 88 against 132 ms with the default quicksort."""
    out = np.sort(a, axis=None, kind="stable")
    return out[np.r_[True, out[1:] != out[:-1]]] if out.size else out


def _keys(stu: pl.DataFrame) -> pl.DataFrame:
    return stu.select(pl.int_range(pl.len(), dtype=pl.Int64).alias("row"), name_words(pl.col("nama")).alias("words"),
                      name_initials(pl.col("nama")).alias("ini"),
                      pl.when(pl.col("ibu") != "").then(pl.col("ibu")).alias("ibu"), "dob",
                      pl.col("dob").dt.year().alias("yr"))


def _rule_pairs(stu: pl.DataFrame, r: _Registry, member: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """(row, rpos) of the candidate pairs of every rule but the first (each join takes only its keys: a wide join
    output over millions of pairs is what costs memory)."""
    sk = _keys(stu)
    rk = r.frame.select(pl.int_range(pl.len(), dtype=pl.Int64).alias("rpos"), "words", "ini", "ibu", "dob", "kab")
    kabs = member.select("row", "kab").unique()

    def pairs(left: pl.DataFrame, on: list[str]) -> pl.DataFrame:
        return left.join(rk.select("rpos", *on), on=on).select("row", "rpos")

    return {
        "kabupaten x name": pairs(kabs.join(sk.select("row", "words"), on="row"), ["kab", "words"]),
        "name x birth date": pairs(sk.select("row", "words", "dob"), ["words", "dob"]),
        "mother x birth date": pairs(sk.select("row", "ibu", "dob"), ["ibu", "dob"]),
        "kabupaten x mother": pairs(kabs.join(sk.select("row", "ibu").drop_nulls(), on="row"), ["kab", "ibu"]),
        "birth date x initials": pairs(sk.select("row", "ini", "dob"), ["ini", "dob"]),
        "kabupaten x initials": pairs(kabs.join(sk.filter(pl.col("dob").is_null()).select("row", "ini").drop_nulls(),
                                                on="row"), ["kab", "ini"]),
    }


def _letters(frame: pl.DataFrame, on: str) -> pl.DataFrame:
    """(``on``, dob, letter) for each of the two letters of the initials (``ini``) of ``frame``'s rows, each once."""
    keep = frame.select(on, "dob", "ini").drop_nulls()
    return pl.concat([keep.select(on, "dob", pl.col("ini").str.slice(i, 1).alias("letter")) for i in (0, 1)]).unique()


def _rescue_pairs(stu: pl.DataFrame, r: _Registry, rows: np.ndarray) -> pl.DataFrame:
    """(row, rpos) of the rescue rule (``RESCUE_RULES``) for the students ``rows`` of ``stu`` (prepared): the same
    birth date and a letter in common between the initials. The registry's side is only the persons born on one
    of those students' birth dates."""
    sk = _letters(_keys(stu).filter(pl.col("row").is_in(pl.Series(rows, dtype=pl.Int64).implode())), "row")
    if sk.is_empty():
        return pl.DataFrame(schema={"row": pl.Int64, "rpos": pl.Int64})
    rk = r.frame.select(pl.int_range(pl.len(), dtype=pl.Int64).alias("rpos"), "ini", "dob").join(
        sk.select("dob").unique(), on="dob", how="semi")
    return sk.join(_letters(rk, "rpos"), on=["dob", "letter"]).select("row", "rpos").unique()


def rule_recall(stu: pl.DataFrame, reg: Registry, true_pid: pl.Series) -> dict[str, float]:
    """Blocking recall per rule and of their union: the share of (student, its true registry person) pairs each
    rule makes candidates. ``true_pid`` is aligned with ``stu`` (null: no true person, left out)."""
    stu = prepare_students(stu)
    r = _registry(reg)
    rpos = np.full(int(reg.persons.height), -1, dtype=np.int64)
    rpos[r.pid] = np.arange(len(r.pid))
    truth = pl.DataFrame({"row": np.arange(stu.height, dtype=np.int64), "pid": true_pid}).drop_nulls().with_columns(
        pl.Series("rpos", rpos[true_pid.drop_nulls().to_numpy()]) if true_pid.null_count() < len(true_pid)
        else pl.lit(0, pl.Int64).alias("rpos"))
    member = _student_blocks(stu)
    rk = r.frame.select(pl.int_range(pl.len(), dtype=pl.Int64).alias("rpos"), "kab", "yr")
    first = truth.join(rk, on="rpos").join(member, on=["row", "kab", "yr"], how="semi")
    found = {"kabupaten x birth year": first.select("row", "rpos")}
    found |= {k: v.select("row", "rpos").join(truth, on=["row", "rpos"], how="semi")
              for k, v in _rule_pairs(stu, r, member).items()}
    found |= {rule: _rescue_pairs(stu, r, truth["row"].to_numpy()).join(truth, on=["row", "rpos"], how="semi")
              for rule in RESCUE_RULES}  # as if every record were left without an auto link
    n = max(truth.height, 1)
    out = {k: v.unique().height / n for k, v in found.items()}
    out["union"] = pl.concat(found.values()).unique().height / n
    return out


def pattern_counts(stu: pl.DataFrame, reg: Registry, threads: int = 1) -> tuple[np.ndarray, _Blocks]:
    """How often each comparison pattern occurs among the candidate pairs of ``stu`` that EM learns from (those of
    ``TRAINING_RULES``)."""
    counts, b, _ = _pattern_counts(stu, reg, threads)
    return counts, b


def _pattern_counts(stu: pl.DataFrame, reg: Registry, threads: int = 1
                    ) -> tuple[np.ndarray, _Blocks, tuple[np.ndarray, np.ndarray]]:
    """``pattern_counts`` and, per student row of ``stu``, the pattern codes of its candidate pairs (what
    ``record_prior`` reads): the distinct ``row * N_PATTERNS + code`` (int64) and how many pairs have each."""
    b = _blocks(stu, reg, TRAINING_RULES, threads)
    counts, row_codes = _counted(b)
    return counts, b, row_codes


def _counted(b: _Blocks) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """The pattern counts of the pairs of ``b`` and per student row the codes of its pairs (``_pattern_counts``)."""

    def count(rows: np.ndarray, starts: np.ndarray, _: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        per_pair = np.repeat(rows.astype(np.int64), np.diff(np.r_[starts, codes.size]))
        return np.bincount(codes, minlength=N_PATTERNS), per_pair * N_PATTERNS + codes

    counts = np.zeros(N_PATTERNS, dtype=np.float64)
    keys: list[np.ndarray] = []
    for n, k in b.map(count):
        counts += n
        keys.append(k)
    if not keys:
        return counts, (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
    return counts, counted_unique(np.concatenate(keys))


def random_codes(s: Side, r: Side, n: int, seed: int, workers: int | None = None) -> np.ndarray:
    """Pattern codes of ``n`` random student-registry pairs (for u); ``workers``: rapidfuzz's (``pair_codes``)."""
    rng = np.random.default_rng(seed)
    if not len(s) or not len(r):
        return np.zeros(0, dtype=np.int32)
    return pair_codes(s.take(rng.integers(0, len(s), n)), r.take(rng.integers(0, len(r), n)), workers)


# ---- decisions ---------------------------------------------------------------------------------------

# Rules of a record's NIK (``rule_nik``) under which the fallback never auto-links it, whatever its weight and the
# band: at most a reviewer's case. The child's NIK typed for a parent as well (Dapodik's ``nik_sama_orang_tua``):
# one of the record's keys names someone else for sure, and which one cannot be told from the record, so a link
# made without a key needs a person to confirm it. (The KK number or a placeholder typed as the NIK are other
# rules: a clerk's slip that says nothing about the person, linked on the other fields as before.)
REVIEW_ONLY_NIK_RULES = (SHARED_WITH_PARENT,)

@dataclass
class FallbackResult:
    decisions: pl.DataFrame  # sid, band, no_kk, pid, probability, weight, margin, code, other_no_kk
    model: Model
    stats: dict[str, float] = field(default_factory=dict)


DECISION_SCHEMA = {
    "sid": pl.Int64, "band": pl.String, "no_kk": pl.String, "pid": pl.Int64, "probability": pl.Float64,
    "weight": pl.Float64, "margin": pl.Float64, "code": pl.Int32, "other_no_kk": pl.String, "other_pid": pl.Int64,
}
# per student and block (or all its pairs of the other blocking rules): the best candidate, the best of another
# family, the best other member of the best one's family
SUMMARY_SCHEMA = {"row": pl.Int64, "rpos": pl.Int64, "fid": pl.Int64, "w": pl.Float64, "code": pl.Int32,
                  "o_rpos": pl.Int64, "o_fid": pl.Int64, "w_other": pl.Float64, "w_sibling": pl.Float64}



def segment_summary(w: np.ndarray, codes: np.ndarray, fid: np.ndarray, starts: np.ndarray
                    ) -> dict[str, np.ndarray]:
    """Per segment of the flat weights ``w`` (one student against one block; ``fid``: each pair's family): the
    best pair, the best pair of another family, the best weight among the best one's other family members (the
    scalar path, ``scalar_fallback``, summarises a check's segments with it too).
    Segment reductions (``reduceat``); ties go to the first pair, as ``argmax`` would."""
    lens = np.diff(np.r_[starts, w.size])
    idx = np.arange(w.size)
    far = np.iinfo(np.int64).max

    def first_max(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        top = np.maximum.reduceat(values, starts)
        at = np.minimum.reduceat(np.where(values == np.repeat(top, lens), idx, far), starts)
        return top, at

    w_best, best = first_max(w)
    same = fid == np.repeat(fid[best], lens)
    w_other, other = first_max(np.where(same, -np.inf, w))
    sibling = np.maximum.reduceat(np.where(same & (idx != np.repeat(best, lens)), w, -np.inf), starts)
    return {"best": best, "w": w_best, "code": codes[best].astype(np.int32), "other": other, "w_other": w_other,
            "w_sibling": sibling}


def summarise(b: _Blocks, model: Model) -> pl.DataFrame:
    """SUMMARY_SCHEMA rows for every (student, block), scored block by block with the model's weights."""
    table = model.pattern_weights() + model.decision_prior_weight()
    fid = b.r.fid

    def one(rows: np.ndarray, starts: np.ndarray, rpos: np.ndarray, codes: np.ndarray) -> dict[str, np.ndarray]:
        s = segment_summary(table[codes], codes, fid[rpos], starts)
        return {"row": rows, "rpos": rpos[s["best"]], "w": s["w"], "code": s["code"], "o_rpos": rpos[s["other"]],
                "w_other": s["w_other"], "w_sibling": s["w_sibling"]}

    parts = list(b.map(one))
    if not parts:
        return pl.DataFrame(schema=SUMMARY_SCHEMA)
    out = pl.DataFrame({c: np.concatenate([p[c] for p in parts]) for c in parts[0]})
    return out.with_columns(pl.Series("fid", fid[out["rpos"].to_numpy()]),
                            pl.Series("o_fid", fid[out["o_rpos"].to_numpy()])).select(
        [pl.col(c).cast(t) for c, t in SUMMARY_SCHEMA.items()])


def decide(summary: pl.DataFrame, b: _Blocks, reg: Registry, settings: Settings,
           veto: np.ndarray | None = None) -> pl.DataFrame:
    """Per student, from its summaries: the best candidate over every block, the best one of another family
    (another block's best, or the best one's block's other family), and the band. ``veto``: per pattern code,
    whether it is vetoed (``veto_table``; default ``levels.vetoed``)."""
    if summary.is_empty():
        return pl.DataFrame(schema=DECISION_SCHEMA)
    inf = float("inf")
    # ties: the first in the summary's order (blocks by position, then the other rules' pairs; a stable sort and
    # order-keeping joins), as ``scalar_fallback.run`` breaks them
    ranked = summary.sort(["row", "w"], descending=[False, True], maintain_order=True)
    best = ranked.group_by("row", maintain_order=True).first()
    # candidates of another family: the best one's own runner-up, and every other block's best
    others = pl.concat([
        best.select("row", pl.col("o_rpos").alias("rpos"), pl.col("o_fid").alias("fid"), pl.col("w_other").alias("w")),
        ranked.join(best.select("row", pl.col("rpos").alias("b_rpos")), on="row", maintain_order="left").filter(
            pl.col("rpos") != pl.col("b_rpos")).select("row", "rpos", "fid", "w"),
    ]).join(best.select("row", pl.col("fid").alias("b_fid")), on="row", maintain_order="left").filter(
        (pl.col("fid") != pl.col("b_fid")) & (pl.col("w") > -inf))
    other = others.sort(["row", "w"], descending=[False, True], maintain_order=True).group_by(
        "row", maintain_order=True).first()
    d = best.select("row", "rpos", "w", "code", "w_sibling").join(
        other.select("row", pl.col("rpos").alias("o_rpos"), pl.col("w").alias("w_other")), on="row", how="left")
    codes = d["code"].to_numpy()
    prob = 1.0 / (1.0 + np.exp2(-d["w"].to_numpy()))
    held = b.stu["rule_nik"].is_in(list(REVIEW_ONLY_NIK_RULES)).fill_null(False).to_numpy()[d["row"].to_numpy()]
    d = d.with_columns(pl.Series("probability", prob),
                       pl.Series("veto", (vetoed(codes) if veto is None else veto[codes]) | held),
                       pl.Series("agreeing", agreeing_fields(codes)),
                       (pl.col("w") - pl.col("w_other")).fill_null(99.0).alias("margin"),
                       pl.when(pl.col("w_sibling") > -inf).then(pl.col("w") - pl.col("w_sibling")).otherwise(99.0)
                       .alias("margin_sibling"))
    band_p = np.where(keys_against(decode(codes.astype(np.int64))), settings.auto_p_keys_against, settings.auto_p)
    auto = (pl.col("probability") >= pl.Series(band_p)) & (pl.col("margin") >= settings.margin) & ~pl.col("veto")
    # review only for a candidate a person could confirm: probable, and agreeing on at least two identity
    # fields (whatever the fitted model says, a stranger of the same block agreeing on none is no case)
    review = (pl.col("probability") >= settings.review_p) & (pl.col("agreeing") >= settings.review_min_fields)
    band = pl.when(auto).then(pl.lit("auto")).when(review).then(pl.lit("review")).otherwise(pl.lit("none"))
    pid, kk = b.r.pid, reg.persons["no_kk"]
    p_best = pid[d["rpos"].to_numpy()]
    o = d["o_rpos"]
    p_other = pl.Series(pid[o.fill_null(0).to_numpy()]).set(o.is_null(), None)  # type: ignore[arg-type]
    d = d.with_columns(band.alias("band"), pl.Series("sid", b.stu["sid"].to_numpy()[d["row"].to_numpy()]),
                       pl.Series("_pid", p_best), kk.gather(p_best).alias("no_kk"), p_other.alias("other_pid"),
                       kk.gather(p_other).alias("other_no_kk"))
    d = d.with_columns(pl.when(pl.col("margin_sibling") >= settings.margin).then(pl.col("_pid")).alias("pid"))
    out = d.select("sid", "band", "no_kk", "pid", "probability", pl.col("w").alias("weight"), "margin", "code",
                   "other_no_kk", "other_pid")
    return out.select([pl.col(c).cast(t) for c, t in DECISION_SCHEMA.items()]).sort("sid")


def match_share(stu: pl.DataFrame, reg: Registry) -> float:
    """The share of students whose family the deterministic pass finds (verified keys), bounded to
    [MIN_SHARE, 1]: the lower bound keeps a run whose NIKs are mostly unusable from ruling the fallback out."""
    from services.sync_hub.matching import deterministic

    det = deterministic.link(stu, reg)
    linked = det.filter(pl.col("outcome").is_in(["PKH_RECIPIENT", "NOT_PKH_RECIPIENT"])).height
    return min(1.0, max(MIN_SHARE, linked / max(det.height, 1)))


MIN_SHARE = 0.25


def training_sample(stu: pl.DataFrame, settings: Settings) -> pl.DataFrame:
    """The students ``train`` fits on: all of ``stu`` up to ``settings.train_students``, else a seeded sample
    (a planner draws it first, then reads the registry slice these students reach)."""
    if stu.height <= settings.train_students:
        return stu
    return stu.sample(settings.train_students, seed=settings.seed)


def train(stu_all: pl.DataFrame, reg: Registry, settings: Settings, share: float | None = None, *,
          stats: RegistryStats | None = None, population: pl.DataFrame | None = None) -> Model:
    """u from random pairs; the prior from the deterministic links (``share`` of students with a family in
    the registry, one person each among the registry's: share / persons) as a start, raised to the share of
    students the fitted model itself expects a match for when that is larger (``expected_matches``; m
    refitted each time); m by EM over the pattern counts of the candidate pairs of a sample of students
    (``training_sample``; counted block by block, never materialised).

    ``reg`` may be a slice of the registry holding at least the persons the sample's blocks (every
    (kabupaten, birth year) a student names), nationwide same-name or same-mother's-name-and-birth-date
    pairs and keys reach (whole families): the candidate pairs and the deterministic links are then those
    of the whole registry. A slice then needs ``stats`` (the whole registry's size, for the prior; default:
    ``reg`` is the whole registry) and ``population`` (a uniform random sample of registry persons,
    ``frames.SAMPLE_SCHEMA``, for u; default: ``reg``'s own persons, which a slice would bias towards the
    students' own kabupaten and birth years)."""
    sample = training_sample(stu_all, settings)
    stats = reg.stats() if stats is None else stats
    threads = settings.scoring_threads()
    measure = population is None and settings.lookalike_persons > 0  # the whole registry is here: its lookalikes
    looks = functools.partial(lookalikes, reg, settings)
    # with threads, the registry's lookalikes are counted while the sample's pairs are scored
    counted_looks = in_background(looks, "fallback-lookalikes") if measure and threads > 1 else None
    b = _blocks(sample, reg, TRAINING_RULES, threads)
    n_random = min(settings.u_pairs, max(20_000, 20 * sample.height))  # enough for u; small runs stay quick
    others = b.r.side if population is None else registry_side(population)
    # with threads, the random pairs (u) are scored while the sample's pairs are counted, not after them on the
    # main thread alone (the same codes: rapidfuzz's workers change no score)
    sampled = in_background(functools.partial(random_codes, b.s, others, n_random, settings.seed, 1),
                            "fallback-u") if threads > 1 else None
    counts, row_codes = _counted(b)
    u = estimate_u(random_codes(b.s, others, n_random, settings.seed) if sampled is None else sampled.result())
    share = match_share(sample, reg) if share is None else min(1.0, max(MIN_SHARE, share))
    persons = max(stats.persons, 1)
    model = fit(counts, u, prior=min(share / persons, 0.5))
    # the prior, estimated: when the deterministic pass links few (no NIKs), its share is a floor, not the
    # truth; the share of sampled students the fitted model itself finds a match for (expected matches among
    # the candidate pairs) is taken when larger, and m refitted with it, until it settles
    det_share, rounds = share, 0
    for rounds in range(1, PRIOR_ROUNDS + 1):  # noqa: B007 - reported in the model's stats
        found = min(1.0, expected_matches(counts, model) / max(sample.height, 1))
        if found <= share * 1.01:
            break
        share = found
        model = fit(counts, u, prior=min(share / persons, 0.5), m=model.m)
    model.stats = {"students": sample.height, "pairs": int(counts.sum()), "u_pairs": n_random,
                   "u_persons": len(others), "registry_persons": stats.persons, "share_deterministic": det_share,
                   "share": share, "prior_rounds": rounds}
    estimated, unkeyed = record_prior(row_codes, model, persons, share)
    model.record_share = max(estimated, share / (1.0 + share))  # raised, never lowered
    model.stats |= {"record_share": model.record_share, "record_share_estimated": estimated,
                    "record_students": unkeyed}
    if measure:
        model.lookalikes, model.lookalike_persons = looks() if counted_looks is None else counted_looks.result()
        model.stats |= {"lookalike_persons": model.lookalike_persons,
                        "lookalike_pairs": int(model.lookalikes.sum())}
    return model


PRIOR_ROUNDS = 5
MAX_RECORD_SHARE = 0.99  # the record prior's odds stay finite (at most 99 : 1) whatever the sample says
# fewer records than this leave the record prior where ``prior`` puts it: a share estimated from a handful of
# records is noise (at 500 and a share of 0.9, its standard error is 0.013)
MIN_RECORDS = 500


def record_prior(row_codes: tuple[np.ndarray, np.ndarray], model: Model, persons: int, share: float
                 ) -> tuple[float, int]:
    """The chance that a record the fallback decides has its person in the registry, by EM over the sampled
    records: each record's chance given its candidate pairs, (o * S) / (1 + o * S) with S the sum of its
    candidates' likelihood ratios m/u and o the prior odds per registry person, pi / ((1 - pi) * persons); pi
    the mean of those chances, until it settles. It starts where ``model.prior`` stands (pi / (1 - pi) = the
    share of students with a person, ``share``); ``train`` keeps the larger of the two (as it does with
    ``share``), so a run whose unlinked records are mostly not in the registry decides as before.

    Why: ``model.prior`` is the chance that a *random pair* matches, share / persons; the odds a pair is decided
    with are then share / persons against 1, while a record whose candidates are all the registry holds for it
    has "no person in the registry" (1 - pi) as its only alternative. When the deterministic pass links few
    (no NIKs, as on FEBRL 4) pi is near 1 and the pair's odds are 1 / (1 - pi) times larger than the per-pair
    prior says. Records with a candidate of equal NIK or KK number are left out of the mean: those the
    deterministic pass links, which never reach the fallback (what the fallback decides is the rest). So are the
    records without a candidate: the fallback decides nothing for them, and their chance is not 0 (their person
    may be outside every block) but unknown; counted as 0 they pulled pi down by what blocking misses (FEBRL 4,
    where every record has its person: 0.877 over every record, 0.99 over those with a candidate). Fewer than
    ``MIN_RECORDS`` records left: the start is kept. Returns (pi, the number of records it was estimated over)."""
    keys, n = row_codes
    start = share / (1.0 + share)
    rows, codes = keys // N_PATTERNS, keys % N_PATTERNS
    lv = decode(codes)
    keyed = sorted_unique(rows[(lv[:, 5] == 0) | (lv[:, 6] == 0)])
    keep = ~np.isin(rows, keyed)
    rows, lr_bits = rows[keep], model.pattern_weights()[codes[keep]] + np.log2(n[keep])
    _, at = np.unique(rows, return_index=True)
    records = int(at.size)  # with a candidate, none of equal NIK or KK number
    if records < MIN_RECORDS:
        return start, records
    top = np.maximum.reduceat(lr_bits, at)
    s_bits = top + np.log2(np.add.reduceat(np.exp2(lr_bits - np.repeat(top, np.diff(np.r_[at, rows.size]))), at))
    pi = start
    for _ in range(200):
        odds_bits = np.log2(pi / ((1.0 - pi) * persons)) + s_bits
        chance = 1.0 / (1.0 + np.exp2(-np.clip(odds_bits, -1000, 1000)))
        new = min(float(chance.sum()) / records, MAX_RECORD_SHARE)
        if abs(new - pi) < 1e-7:
            pi = new
            break
        pi = new
    return pi, records


def record_weight(share: float, persons: int) -> float:
    """Bits of the prior odds per registry person when a record has its person in the registry with chance
    ``share``: share / ((1 - share) * persons)."""
    return float(np.log2(share / ((1.0 - share) * max(persons, 1))))


# ---- vetoes, measured -------------------------------------------------------------------------------

def lookalikes(reg: Registry, settings: Settings) -> tuple[np.ndarray, int]:
    """How often two *different* registry persons look alike: for a sample of ``settings.lookalike_persons``
    registry persons (all of them when fewer), every other registry person of the same kabupaten born the same day
    or bearing the same name's words (the pairs the "kabupaten x birth year" and "kabupaten x name" rules make
    candidates), compared as a record and a candidate are (``levels.pair_codes``). Every such pair is a pair of
    distinct persons, a sure non-match. Returns the pair counts per (name level, birth date level, region level)
    (``LOOKALIKE_SHAPE``) and the persons sampled.

    The registry's persons are a sample of non-matches that holds what the independence assumption misses: twins,
    siblings, fathers of the same name, near-namesakes born the same day in the same kecamatan. These two joins
    reach every pair at least as close as a pattern a veto may be lifted for (``counted``: same kabupaten, and
    birth date or name exact), so those patterns' counts are the whole registry's for the sampled persons; the
    other cells are not read (and are undercounted)."""
    r = _registry(reg)
    total = len(r.pid)
    n = min(settings.lookalike_persons, total)
    if n == 0:
        return np.zeros(LOOKALIKE_SHAPE), 0
    keys = r.frame.select(pl.int_range(pl.len(), dtype=pl.Int64).alias("rpos"), "words", "dob", "kab")
    picked = np.arange(total) if n == total else np.random.default_rng(settings.seed).choice(total, n, replace=False)
    me = keys[np.sort(picked)].rename({"rpos": "row"})
    pairs = pl.concat([
        me.drop_nulls(["kab", "dob"]).join(keys.drop_nulls(["kab", "dob"]), on=["kab", "dob"]).select("row", "rpos"),
        me.drop_nulls(["kab", "words"]).join(keys.drop_nulls(["kab", "words"]), on=["kab", "words"]).select(
            "row", "rpos"),
    ]).unique().filter(pl.col("row") != pl.col("rpos"))
    counts = np.zeros(int(np.prod(LOOKALIKE_SHAPE)), dtype=np.float64)
    rows, rpos = pairs["row"].to_numpy(), pairs["rpos"].to_numpy()
    for lo in range(0, rows.size, BATCH_PAIRS):
        codes = pair_codes(r.side.take(rows[lo:lo + BATCH_PAIRS]), r.side.take(rpos[lo:lo + BATCH_PAIRS]))
        lv = decode(codes.astype(np.int64))[:, list(LOOKALIKE_FIELDS)]
        counts += np.bincount(np.ravel_multi_index(lv.T, LOOKALIKE_SHAPE), minlength=counts.size)
    return counts.reshape(LOOKALIKE_SHAPE), n


def veto_table(model: Model, settings: Settings) -> np.ndarray:
    """Per pattern code, whether it is vetoed (never auto-linked). ``levels.vetoed``, less the name-or-date vetoes
    (``levels.name_date_vetoed``) the registry's own lookalikes lift (``lifted``); a model without measured
    lookalikes (fitted on a slice, or stored before) lifts none."""
    key = (settings.auto_p, model.prior, model.record_share, model.stats.get("registry_persons"),
           model.lookalike_persons, id(model.lookalikes), id(model.m), id(model.u))
    if model._veto is not None and model._veto[0] == key:
        return model._veto[1]
    codes = np.arange(N_PATTERNS)
    table = vetoed(codes) & ~lifted(model, settings)
    model._veto = (key, table)
    return table


def lifted(model: Model, settings: Settings) -> np.ndarray:
    """Per pattern code: a name-or-date veto lifted, because the pair clears the auto band with the *measured*
    joint chance of its name, birth date and region levels among non-matches in place of the product of their
    marginal u's.

    u of the joint pattern: the registry persons' lookalikes per person (``lookalikes``: distinct persons at
    least as close as the pattern on each of the three fields; +0.5 when none were seen) over the registry's
    persons. m of the three: the product of the fitted m's (a record's typing errors are independent; a missing
    field drops out of both). Of the other comparisons only the evidence *against* counts (their correlation with
    the pattern is not measured: a NIK differing only in its serial says the birth date and kecamatan again). The
    pair's weight is then the decision prior + log2(m / u_joint) + that evidence against, and the veto is lifted
    when it reaches ``settings.auto_p``. The auto band's other conditions still apply to a lifted pair: the
    marginal probability, the margin over every other family (another candidate close still refuses) and over
    the person's siblings. The mother's-name vetoes and a name and birth date both "other" are never lifted, nor
    a pattern whose lookalikes the blocking rules do not all reach (``counted``), nor one another comparison
    contradicts (``contradicted``: another sex, NIK, KK number or mother), whatever its weight: evidence against is
    a rule, not a number a lower band could outweigh.

    Where the registry holds twins, siblings, namesakes and fathers of one name (Indonesian families, the
    ``worldgen`` worlds), the joint u is thousands of times the product of the marginals and the pair stays
    vetoed; where it holds almost none, the joint u is measured tiny and the pair is decided by its weight."""
    persons = model.stats.get("registry_persons")
    out = np.zeros(N_PATTERNS, dtype=bool)
    if model.lookalikes is None or not model.lookalike_persons or not persons:
        return out
    codes = np.arange(N_PATTERNS)
    lv = decode(codes)
    # at least as close on each field: levels are ordered closest first, a field's "missing" last (so the
    # cumulative count at "missing" is every pair: a missing field is not compared)
    closer = model.lookalikes.cumsum(0).cumsum(1).cumsum(2)
    idx = tuple(lv[:, f] for f in LOOKALIKE_FIELDS)
    per_person = (closer[idx] + 0.5) / model.lookalike_persons
    log_u = np.log2(per_person) - np.log2(float(persons))
    log_m = np.zeros(N_PATTERNS)
    against = np.zeros(N_PATTERNS)
    weights = model.weights()
    for f, (_, labels, has_missing) in enumerate(FIELDS):
        if f in LOOKALIKE_FIELDS:
            missing = (lv[:, f] == len(labels) - 1) if has_missing else np.zeros(N_PATTERNS, dtype=bool)
            log_m += np.where(missing, 0.0, np.log2(np.maximum(model.m[f][lv[:, f]], 1e-12)))
        else:
            against += np.minimum(weights[f][lv[:, f]], 0.0)
    joint = model.decision_prior_weight() + log_m - log_u + against
    threshold = np.log2(settings.auto_p / (1.0 - settings.auto_p))
    return (name_date_vetoed(codes) & ~standing_vetoed(codes) & counted(lv) & ~contradicted(lv)
            & (joint >= threshold))


def contradicted(lv: np.ndarray) -> np.ndarray:
    """Per level row (``decode``): whether a comparison other than name, birth date and region says *another
    person*: the sex differs, the NIK differs (in the serial only — a twin's, anyone's born that day in that
    kecamatan — or more), the KK number differs, the mother's name does not agree (< 0.92). Such a pattern keeps
    its name-or-date veto whatever its weight and whatever the band (``lifted``): a name typo with the other sex is
    a twin brother or sister, not a typo, however rare lookalikes are."""
    jk, ibu = lv[:, 3], lv[:, 2]
    return (jk == 1) | keys_against(lv) | (ibu == 2) | (ibu == 3)


def keys_against(lv: np.ndarray) -> np.ndarray:
    """Per level row (``decode``): the NIK differs in its serial or more, or the KK number differs (both present)."""
    nik, kk = lv[:, 5], lv[:, 6]
    return (nik == 3) | (nik == 4) | (kk == 1)


def counted(lv: np.ndarray) -> np.ndarray:
    """Per level row (``decode``): whether ``lookalikes`` counts *every* registry pair at least as close as the
    pattern on name, birth date and region, so that its joint u is measured, not bounded from below. Region the
    kecamatan or the kabupaten, all three fields present, and the birth date exact (every such pair shares a
    (kabupaten, birth year) block) or the name exact (every such pair shares the kabupaten and the name's words:
    the "kabupaten x name" rule). A near birth date can be a year off, a near name other words: another block."""
    nama, lahir, wil = lv[:, 0], lv[:, 1], lv[:, 4]
    return (wil <= 1) & (nama < SIZES[0] - 1) & (lahir < SIZES[1] - 1) & ((lahir == 0) | (nama == 0))


def expected_matches(counts: np.ndarray, model: Model) -> float:
    """The number of matches the model expects among candidate pairs with these pattern counts."""
    w = model.pattern_weights() + model.prior_weight()
    return float(np.sum(counts / (1.0 + np.exp2(-np.clip(w, -1000, 1000)))))


def run(stu: pl.DataFrame, reg: Registry, model: Model, settings: Settings | None = None) -> FallbackResult:
    """Score ``stu`` block by block with ``model`` and decide: only a few numbers per student and block are
    kept, so memory does not grow with the number of candidate pairs."""
    settings = settings or Settings()
    b = _blocks(stu, reg, threads=settings.scoring_threads())
    summary = summarise(b, model)
    veto = veto_table(model, settings)
    decisions = decide(summary, b, reg, settings, veto)
    # the rescue rule, for the records left without an auto link (with no candidate at all, too): their new pairs
    # are scored after every other segment (ties fall to the earlier), and those records decided again
    auto = decisions.filter(pl.col("band") == "auto")["sid"].to_numpy()
    rows = np.flatnonzero(rescued(b.stu) & ~np.isin(b.stu["sid"].to_numpy(), auto))
    found = _rescue_pairs(b.stu, b.r, rows) if rows.size else pl.DataFrame(schema={"row": pl.Int64, "rpos": pl.Int64})
    more = _Blocks(b.stu, b.s, b.r, [], _unseen(b, found))
    if more.extra[0].size:
        summary = pl.concat([summary, summarise(more, model)])
        decisions = decide(summary, b, reg, settings, veto)
    pairs = b.pairs + more.pairs
    return FallbackResult(decisions, model, {"pairs_scored": pairs, "blocks": len(b.groups), "candidate_pairs": pairs,
                                             "rescued_students": int(rows.size), "rescue_pairs": more.pairs})


def rescued(stu: pl.DataFrame) -> np.ndarray:
    """Per row of ``stu`` (prepared: ``levels.prepare_students``): whether the rescue rule (``RESCUE_RULES``) may
    look further for it — a record without a key: no NIK digits (none, or a placeholder, the KK number or a parent's
    NIK typed as the child's) and no KK number."""
    return (stu["nik_digits"].is_null() & stu["no_kk"].is_null()).to_numpy()


def _unseen(b: _Blocks, found: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The pairs of ``found`` (row, rpos) not among ``b``'s (its blocks' and its other rules'), as (row, rpos)
    sorted, each once."""
    if found.is_empty():
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    n = max(len(b.r.pid), 1)
    key = sorted_unique(found["row"].to_numpy() * n + found["rpos"].to_numpy())
    si, ri = b.extra
    key = key[~np.isin(key, si * n + ri, assume_unique=False)] if si.size else key
    row, rpos = np.divmod(key, n)
    nb = max(b.r.blocks.height, 1)
    met = _student_blocks(b.stu).join(b.r.blocks.select("kab", "yr", "bid"), on=["kab", "yr"])
    held = sorted_unique(met["row"].to_numpy() * nb + met["bid"].to_numpy())
    pb = b.r.bid[rpos]
    at = row * nb + pb
    i = np.minimum(np.searchsorted(held, at), max(held.size - 1, 0))
    inside = (pb >= 0) & (held[i] == at) if held.size else np.zeros(row.size, dtype=bool)
    return row[~inside], rpos[~inside]
