"""KIP cards to Dapodik students: by the card's NIK when it has a usable one, else by who the card names.

A KIP issuance (``KipIssuance``) names a child: NIK (often missing or mistyped), name, birth date, mother's
maiden name, the family's region and the jenjang it was issued for. Two passes:

1. **NIK**: a card whose valid NIK equals a student's (usable) NIK, and whose name (>= 0.85) and birth date
   (equal, a day off, day/month swapped, a year off) agree with the record, goes to that student when it is
   the only such card of the student. Records carrying the same NIK are one child (data ganda): each gets it.
2. **Identity** (cards the NIK pass left, students it gave nothing): Fellegi-Sunter over the fallback's own
   comparisons (``levels.pattern_codes``: name, birth date, mother's name, region, NIK similarity - a card's
   mistyped NIK one edit from the student's counts), plus jenjang. Sex and KK number are not on a card and
   weigh nothing. Candidates: students in the card's (kabupaten, birth year) block, the student's kabupaten
   taken from its school, KK number and NIK prefix; and nationwide the same name or mother's name with the
   same birth date. ``m`` from the fallback model in use (else its defaults), ``u`` from random
   card-student pairs, the prior one in the number of students.

   **Auto-link** only when the probability is >= ``auto_p``, the card's best student beats its second best
   by ``margin`` bits, the student's best card is this one by the same margin (so never one card to two
   students nor two cards to one student), and no veto of the fallback holds (mother's name disagrees,
   name or birth date far, without a near NIK). Otherwise **no link**: the card stays unmatched, as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
from pydantic import Field

from services.sync_hub.matching import fallback, levels
from services.sync_hub.matching.compare import birth_dates_agree, name_similarity
from shared import names
from shared.contracts.common import MatchKey
from shared.contracts.kemensos import KipIssuance
from shared.nik import check_frame

JENJANG_M = 0.95  # a card's jenjang is the student's (cards follow the child to the next school level)
_NAMA, _LAHIR, _IBU, _JK, _WIL, _NIK, _KK = range(7)


class LinkedKip(KipIssuance):
    """A card and how it was linked (provenance ``matched_by``) with the evidence of an identity link."""

    matched_by: MatchKey = MatchKey.NIK
    evidence: dict[str, object] = Field(default_factory=dict)


@dataclass(frozen=True)
class Settings:
    auto_p: float = 0.999
    margin: float = 6.0
    u_pairs: int = 100_000
    seed: int = 1


CARD_SCHEMA = {"no_kip": pl.String, "nama": pl.String, "ibu": pl.String, "dob": pl.Date, "wil": pl.String,
               "jenjang": pl.String, "nik": pl.String}


def cards_frame(cards: list[KipIssuance]) -> pl.DataFrame:
    raw = pl.DataFrame([{"no_kip": c.no_kip, "nama": c.nama, "ibu": c.nama_ibu_kandung, "dob": c.tanggal_lahir,
                         "wil": c.kode_wilayah, "jenjang": c.jenjang.value, "nik": c.nik} for c in cards],
                       schema=CARD_SCHEMA)
    return prepare_cards(raw)


def cards_frame_json(payloads: list[str]) -> pl.DataFrame:
    """``cards_frame`` of the cards' JSON (``KipIssuance.model_dump_json``, as the replica stores them), parsed by
    polars: no model per card (a unit reads every card of its province; only the linked ones become models)."""
    if not payloads:
        return prepare_cards(pl.DataFrame(schema=CARD_SCHEMA))
    dtype = pl.Struct({"no_kip": pl.String, "nama": pl.String, "nama_ibu_kandung": pl.String,
                       "tanggal_lahir": pl.String, "kode_wilayah": pl.String, "jenjang": pl.String, "nik": pl.String})
    parsed = pl.Series("card", payloads, dtype=pl.String).str.json_decode(dtype).struct.unnest()
    return prepare_cards(parsed.select(
        "no_kip", "nama", pl.col("nama_ibu_kandung").alias("ibu"), pl.col("tanggal_lahir").str.to_date("%Y-%m-%d")
        .alias("dob"), pl.col("kode_wilayah").alias("wil"), "jenjang", "nik"))


def prepare_cards(raw: pl.DataFrame) -> pl.DataFrame:
    """Raw card columns (CARD_SCHEMA) -> normalised names, the NIK's digits (``nik_digits``, whatever their
    validity) and the valid NIK (``nik_valid``)."""
    checked = check_frame(raw["nik"])
    return raw.select(
        pl.int_range(pl.len(), dtype=pl.Int64).alias("card"), "no_kip",
        names.normalise_series(raw["nama"]).alias("nama"), names.normalise_series(raw["ibu"]).alias("ibu"),
        pl.col("dob").cast(pl.Date), pl.col("wil").cast(pl.String), pl.col("jenjang").cast(pl.String),
    ).with_columns(
        checked.select(pl.when(pl.col("nik").str.contains(r"^\d{16}$")).then(pl.col("nik"))).to_series()
        .alias("nik_digits"),
        checked.select(pl.when(pl.col("rule").is_null()).then(pl.col("nik"))).to_series().alias("nik_valid"),
    )


def _nik_pass(stu: pl.DataFrame, cards: pl.DataFrame) -> pl.DataFrame:
    """(sid, card) linked by the card's valid NIK, identity checked, one card per student."""
    pairs = stu.filter(pl.col("nik").is_not_null()).select("sid", "nik", pl.col("nama").alias("s_nama"),
                                                            pl.col("dob").alias("s_dob")).join(
        cards.filter(pl.col("nik_valid").is_not_null()).select("card", pl.col("nik_valid").alias("nik"), "nama", "dob"),
        on="nik")
    if pairs.is_empty():
        return pl.DataFrame(schema={"sid": pl.Int64, "card": pl.Int64})
    ok = (name_similarity(pairs["s_nama"], pairs["nama"]) >= 0.85) & pairs.select(
        birth_dates_agree(pl.col("s_dob"), pl.col("dob"))).to_series().to_numpy()
    good = pairs.filter(pl.Series(ok))
    return good.filter(pl.len().over("sid") == 1).select("sid", "card")


def _candidates(stu: pl.DataFrame, cards: pl.DataFrame) -> pl.DataFrame:
    """(sid, card) pairs: the card's (kabupaten, birth year) block, and nationwide same name or same mother's
    name with the same birth date."""
    s = stu.with_columns(pl.col("dob").dt.year().alias("yr"))
    kab = pl.concat([s.select("sid", "yr", pl.col(c).str.slice(0, 4).alias("kab")) for c in
                     ("wil", "no_kk", "nik_digits")]).drop_nulls().filter(pl.col("kab").str.len_chars() == 4).unique()
    c = cards.with_columns(pl.col("dob").dt.year().alias("yr"), pl.col("wil").str.slice(0, 4).alias("kab"))
    parts = [kab.join(c.select("card", "kab", "yr"), on=["kab", "yr"]).select("sid", "card")]
    for k in ("nama", "ibu"):
        parts.append(s.filter(pl.col(k) != "").select("sid", k, "dob").join(
            c.filter(pl.col(k) != "").select("card", k, "dob"), on=[k, "dob"]).select("sid", "card"))
    return pl.concat(parts).unique().sort("card", "sid")


def _sides(stu: pl.DataFrame, cards: pl.DataFrame) -> tuple[levels.Side, levels.Side]:
    """Both sides with their names ``Interned`` (``levels.student_side``'s): ``_codes`` gathers the rows of 100,000
    pairs and more as integers, the strings are looked up once per distinct pair of names, and the token-sort
    comparison is made only where a name is out of alphabetical order (``levels.pair_codes``: the same levels as
    comparing every pair's strings)."""
    s = levels.side(levels.prepare_students(stu), "nik_digits", "no_kk", None, levels.STUDENT_MISSING_DAY,
                    intern=True)
    c = levels.side(cards.with_columns(pl.lit(None, pl.String).alias("sex"), pl.lit(None, pl.String).alias("kk")),
                    "nik_digits", "kk", None, levels.OTHER_MISSING_DAY, intern=True)
    return s, c


def _codes(s: levels.Side, c: levels.Side, si: np.ndarray, ci: np.ndarray) -> np.ndarray:
    """Pattern codes of the pairs (``si[i]``, ``ci[i]``); a pair drawn twice is compared once."""
    if len(si) == 0:
        return levels.pair_codes(s.take(si), c.take(ci))
    key = si.astype(np.int64) * max(len(c), 1) + ci.astype(np.int64)
    unique, inverse = levels.distinct_keys(key, max(len(s), 1) * max(len(c), 1))
    if len(unique) == len(key):
        return levels.pair_codes(s.take(si), c.take(ci))
    n = max(len(c), 1)
    return levels.pair_codes(s.take(unique // n), c.take(unique % n))[inverse.reshape(-1)]


def _field_weights(m: list[np.ndarray], u: list[np.ndarray]) -> list[np.ndarray]:
    out = fallback.Model(m, u, 0.5).weights()
    out[_JK] = np.zeros_like(out[_JK])  # not on a card
    out[_KK] = np.zeros_like(out[_KK])
    return out


def link(stu: pl.DataFrame, jenjang: list[str | None], cards: pl.DataFrame, model: fallback.Model | None = None,
         settings: Settings | None = None) -> pl.DataFrame:
    """Cards to students. ``stu``: ``frames.students_frame`` of the students cards may belong to (Dapodik);
    ``jenjang``: each student's school level (SD/SMP/SMA/SMK or None), row-aligned; ``cards``:
    ``cards_frame``. Returns one row per linked card: sid, card, by ("nik" | "identity"), probability, weight,
    margin (bits over the next student and over the student's next card), code (the fallback's pattern)."""
    settings = settings or Settings()
    schema = {"sid": pl.Int64, "card": pl.Int64, "by": pl.String, "probability": pl.Float64, "weight": pl.Float64,
              "margin": pl.Float64, "code": pl.Int32}
    if stu.is_empty() or cards.is_empty():
        return pl.DataFrame(schema=schema)
    stu = stu.with_columns(pl.Series("jenjang", jenjang, dtype=pl.String))
    by_nik = _nik_pass(stu, cards)
    out = [by_nik.with_columns(pl.lit("nik").alias("by"), pl.lit(None, pl.Float64).alias("probability"),
                               pl.lit(None, pl.Float64).alias("weight"), pl.lit(None, pl.Float64).alias("margin"),
                               pl.lit(None, pl.Int32).alias("code"))]
    # the identity pass: cards without a NIK link, students without a card
    rest_s = stu.filter(~pl.col("sid").is_in(by_nik["sid"].implode()))
    rest_c = cards.filter(~pl.col("card").is_in(by_nik["card"].implode()))
    pairs = _candidates(rest_s, rest_c) if rest_s.height and rest_c.height else pl.DataFrame(
        schema={"sid": pl.Int64, "card": pl.Int64})
    if pairs.height:
        out.append(_identity(stu, cards, rest_s, rest_c, pairs, model, settings))
    return pl.concat(out).select([pl.col(k).cast(v) for k, v in schema.items()]).sort("sid")


def _identity(stu: pl.DataFrame, cards: pl.DataFrame, rest_s: pl.DataFrame, rest_c: pl.DataFrame,
              pairs: pl.DataFrame, model: fallback.Model | None, settings: Settings) -> pl.DataFrame:
    s_side, c_side = _sides(stu, cards)  # row position == sid / card
    si, ci = pairs["sid"].to_numpy(), pairs["card"].to_numpy()
    codes = _codes(s_side, c_side, si, ci)
    rng = np.random.default_rng(settings.seed)
    rs = rest_s["sid"].to_numpy()[rng.integers(0, rest_s.height, settings.u_pairs)]
    rc = rest_c["card"].to_numpy()[rng.integers(0, rest_c.height, settings.u_pairs)]
    u = fallback.estimate_u(_codes(s_side, c_side, rs, rc))
    m = model.m if model is not None else fallback.default_m()
    weights = _field_weights(m, u)
    lv = levels.decode(codes.astype(np.int64))
    w = np.zeros(len(codes))
    for f, wf in enumerate(weights):
        w += wf[lv[:, f]]
    # jenjang: m fixed, u from how often a random card's jenjang is a random student's
    sj, cj = stu["jenjang"], cards["jenjang"]
    ps = rest_s["jenjang"].drop_nulls().value_counts(normalize=True)
    pc = rest_c["jenjang"].drop_nulls().value_counts(normalize=True)
    u_j = float(ps.join(pc, on="jenjang").select(pl.col("proportion") * pl.col("proportion_right")).sum().item() or 0)
    u_j = min(max(u_j, 1e-3), 0.99)
    a, b = sj.gather(si), cj.gather(ci)
    known = (a.is_not_null() & b.is_not_null()).to_numpy()
    same = (a == b).fill_null(False).to_numpy()
    w += np.where(known, np.where(same, np.log2(JENJANG_M / u_j), np.log2((1 - JENJANG_M) / (1 - u_j))), 0.0)
    prior = 1.0 / max(stu.height, 2)
    w += np.log2(prior / (1 - prior))
    d = pl.DataFrame({"sid": si, "card": ci, "w": w, "code": codes.astype(np.int32),
                      "veto": levels.vetoed(codes)})

    def best_two(key: str) -> pl.DataFrame:
        ranked = d.sort([key, "w"], descending=[False, True])
        return ranked.group_by(key, maintain_order=True).agg(
            pl.col("sid" if key == "card" else "card").first().alias("best"), pl.col("w").first().alias("w1"),
            pl.col("w").slice(1, 1).first().alias("w2"))

    per_card, per_student = best_two("card"), best_two("sid")
    top = per_card.rename({"best": "sid"}).join(
        per_student.select("sid", pl.col("best").alias("s_best"), pl.col("w2").alias("s_w2")), on="sid").join(
        d.select("sid", "card", "code", "veto"), on=["sid", "card"])
    top = top.with_columns(
        pl.min_horizontal((pl.col("w1") - pl.col("w2")).fill_null(99.0),
                          (pl.col("w1") - pl.col("s_w2")).fill_null(99.0)).alias("margin"),
        (1.0 / (1.0 + (2.0 ** -pl.col("w1")))).alias("probability"))
    auto = top.filter((pl.col("s_best") == pl.col("card")) & (pl.col("probability") >= settings.auto_p)
                      & (pl.col("margin") >= settings.margin) & ~pl.col("veto"))
    return auto.select("sid", "card", pl.lit("identity").alias("by"), "probability", pl.col("w1").alias("weight"),
                       "margin", "code")


def to_students(links: pl.DataFrame, cards: Sequence[KipIssuance] | Sequence[str], n_students: int
                ) -> list[LinkedKip | None]:
    """Row-aligned with the students: the card each got (``LinkedKip``, with how and the evidence) or None.
    ``cards``: the cards of ``link``'s frame, as models or as their JSON (``cards_frame_json``)."""
    out: list[LinkedKip | None] = [None] * n_students
    for row in links.iter_rows(named=True):
        held = cards[row["card"]]
        card = KipIssuance.model_validate_json(held) if isinstance(held, str) else held
        if row["by"] == "nik":
            out[row["sid"]] = LinkedKip(**card.model_dump(), matched_by=MatchKey.NIK)
            continue
        evidence = {"fields": {k: v for k, v in levels.evidence(row["code"]).items() if k not in ("jk", "kk")},
                    "weight": round(row["weight"], 2), "probability": round(row["probability"], 6),
                    "margin": round(row["margin"], 2)}
        out[row["sid"]] = LinkedKip(**card.model_dump(), matched_by=MatchKey.KIP_IDENTITY, evidence=evidence)
    return out
