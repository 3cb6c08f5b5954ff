"""Deterministic linking, vectorised: every key a student record carries, each hit verified.

Keys: the child's NIK, the mother's, the father's, the guardian's, and the KK number (current or one the
family held before). A NIK that breaks a rule is not used (its rule is reported). A hit is never trusted
on its own: a mistyped digit is often another real person's valid NIK, so each hit is verified against
the identity it should belong to:

* child's NIK: the registry person's name agrees (>= 0.85) and the birth date agrees (equal, a day off,
  day/month swapped, a year off) or the mother's name agrees; or the birth date is equal and the
  mother's name agrees while the name is at least 0.70 (a heavy typo).
* a parent's NIK: the person's sex is the parent's and the name agrees with the record's parent name
  (>= 0.80); a guardian's: the name agrees.
* the KK number: the family has a member who passes the child's check, or a woman whose name agrees
  with the mother's name.

The first verified key in the order child, mother, KK, father, guardian decides the family. When the
child's and the mother's verified keys point at different families nobody guesses: the student goes to
review with both candidates. A hit whose identity disagrees is a mismatch, never a link.
"""

from __future__ import annotations

import polars as pl

from services.sync_hub.matching.compare import birth_dates_agree, name_similarity
from services.sync_hub.matching.frames import NIK_KEYS, Registry

CHILD_NAME_OK = 0.85
CHILD_NAME_WEAK = 0.70
PARENT_NAME_OK = 0.80
PRECEDENCE = ("nik", "nik_ibu", "no_kk", "nik_ayah", "nik_wali")
_EXPECTED = {"nik": ("nama", None), "nik_ibu": ("ibu", "P"), "nik_ayah": ("ayah", "L"), "nik_wali": ("wali", None)}
_LABEL = {"nik": "nama", "nik_ibu": "nama_ibu_kandung", "nik_ayah": "nama_ayah", "nik_wali": "nama_wali"}

RESULT_SCHEMA = {
    "sid": pl.Int64, "outcome": pl.String, "matched_by": pl.String, "no_kk": pl.String, "pid": pl.Int64,
    "other_no_kk": pl.String, "invalid": pl.String, "mismatch": pl.String, "notes": pl.String,
    "nik": pl.String, "nik_ibu": pl.String, "nik_ayah": pl.String, "nik_wali": pl.String,
}


def _child_checks(frame: pl.DataFrame) -> pl.DataFrame:
    """Adds ``ok`` and ``disagreed`` for rows pairing a student (nama, dob, ibu) with a person (p_*)."""
    sim_name = name_similarity(frame["nama"], frame["p_nama"])
    sim_ibu = name_similarity(frame["ibu"], frame["p_ibu"])
    f = frame.with_columns(pl.Series("sim_name", sim_name), pl.Series("sim_ibu", sim_ibu),
                           birth_dates_agree(pl.col("dob"), pl.col("p_dob")).alias("dob_ok"),
                           (pl.col("dob") == pl.col("p_dob")).fill_null(False).alias("dob_eq"))
    ok = ((pl.col("sim_name") >= CHILD_NAME_OK) & (pl.col("dob_ok") | (pl.col("sim_ibu") >= CHILD_NAME_OK))) | (
        (pl.col("sim_name") >= CHILD_NAME_WEAK) & pl.col("dob_eq") & (pl.col("sim_ibu") >= CHILD_NAME_OK))
    disagreed = pl.when(pl.col("sim_name") < CHILD_NAME_OK).then(pl.lit("nama")).otherwise(pl.lit("tanggal_lahir"))
    return f.with_columns(ok.alias("ok"), disagreed.alias("disagreed"))


def _nik_hits(stu: pl.DataFrame, reg: Registry) -> pl.DataFrame:
    keys = pl.concat([
        stu.select("sid", pl.lit(k).alias("key"), pl.col(k).alias("value")).filter(pl.col("value").is_not_null())
        for k in NIK_KEYS])
    persons = reg.persons.select(pl.col("nik").alias("value"), "pid", "no_kk", pl.col("nama").alias("p_nama"),
                                 pl.col("sex").alias("p_sex"), pl.col("dob").alias("p_dob"),
                                 pl.col("ibu").alias("p_ibu"))
    hits = keys.join(persons, on="value").join(stu.select("sid", "nama", "dob", "ibu", "ayah", "wali"), on="sid")
    child = _child_checks(hits.filter(pl.col("key") == "nik"))
    parents = hits.filter(pl.col("key") != "nik")
    expected = pl.when(pl.col("key") == "nik_ibu").then(pl.col("ibu")).when(pl.col("key") == "nik_ayah").then(
        pl.col("ayah")).otherwise(pl.col("wali"))
    parents = parents.with_columns(expected.alias("_expected"))
    parents = parents.with_columns(pl.Series("sim_name", name_similarity(parents["_expected"], parents["p_nama"])))
    sex_expected = pl.when(pl.col("key") == "nik_ibu").then(pl.lit("P")).when(pl.col("key") == "nik_ayah").then(
        pl.lit("L")).otherwise(pl.col("p_sex"))
    label = pl.when(pl.col("key") == "nik_ibu").then(pl.lit("nama_ibu_kandung")).when(
        pl.col("key") == "nik_ayah").then(pl.lit("nama_ayah")).otherwise(pl.lit("nama_wali"))
    parents = parents.with_columns(
        ((pl.col("p_sex") == sex_expected) & (pl.col("sim_name") >= PARENT_NAME_OK)).alias("ok"),
        pl.when(pl.col("p_sex") != sex_expected).then(pl.concat_str(pl.lit("jenis_kelamin of "), pl.col("key")))
        .otherwise(label).alias("disagreed"))
    cols = ["sid", "key", "pid", "no_kk", "ok", "disagreed"]
    out = pl.concat([child.select(cols), parents.select(cols)])
    # a parent's hit does not identify the child: no person id
    return out.with_columns(pl.when(pl.col("key") == "nik").then(pl.col("pid")).alias("pid"))


def _kk_hits(stu: pl.DataFrame, reg: Registry) -> pl.DataFrame:
    """Students whose KK number names a registry family (current or old number), verified by its members."""
    want = stu.filter(pl.col("no_kk").is_not_null()).select("sid", pl.col("no_kk").alias("kk"), "nama", "dob", "ibu")
    current = want.join(reg.families.select(pl.col("no_kk").alias("kk"), pl.col("no_kk").alias("fam")), on="kk")
    old = want.join(reg.kk_lama.select(pl.col("old_kk").alias("kk"), pl.col("no_kk").alias("fam")), on="kk")
    fam = pl.concat([current, old]).unique(["sid", "fam"])
    if fam.is_empty():
        return pl.DataFrame(schema={"sid": pl.Int64, "key": pl.String, "pid": pl.Int64, "no_kk": pl.String,
                                    "ok": pl.Boolean, "disagreed": pl.String})
    members = fam.join(reg.persons.select(pl.col("no_kk").alias("fam"), "pid", pl.col("nama").alias("p_nama"),
                                          pl.col("sex").alias("p_sex"), pl.col("dob").alias("p_dob"),
                                          pl.col("ibu").alias("p_ibu")), on="fam")
    members = _child_checks(members)
    members = members.with_columns(
        ((pl.col("p_sex") == "P") & pl.Series(name_similarity(members["ibu"], members["p_nama"]) >= CHILD_NAME_OK))
        .alias("mother_ok"))
    per_family = members.sort("sim_name", descending=True).group_by("sid", "fam").agg(
        pl.col("pid").filter(pl.col("ok")).first().alias("pid"),
        pl.col("ok").any().alias("child_ok"), pl.col("mother_ok").any().alias("mother_ok"))
    return per_family.select(
        "sid", pl.lit("no_kk").alias("key"), "pid", pl.col("fam").alias("no_kk"),
        (pl.col("child_ok") | pl.col("mother_ok")).alias("ok"), pl.lit("no member agrees").alias("disagreed"))


def link(stu: pl.DataFrame, reg: Registry) -> pl.DataFrame:
    """One row per student (RESULT_SCHEMA): the deterministic outcome, the key that decided it, the family
    (``no_kk``), the child's registry person when known (``pid``), and what the decision rests on."""
    hits = _nik_hits(stu, reg)
    settled = hits.filter(pl.col("ok") & pl.col("key").is_in(["nik", "nik_ibu"]))["sid"].unique()
    hits = pl.concat([hits, _kk_hits(stu.filter(~pl.col("sid").is_in(settled.implode())), reg)])

    verified = hits.filter(pl.col("ok")).group_by("sid", "key").agg(
        pl.col("no_kk").first(), pl.col("pid").drop_nulls().first(), pl.col("no_kk").n_unique().alias("n"))
    wide = stu.select("sid")
    for key in PRECEDENCE:
        part = verified.filter(pl.col("key") == key).select(
            "sid", pl.col("no_kk").alias(f"fam_{key}"), pl.col("pid").alias(f"pid_{key}"),
            pl.col("n").alias(f"n_{key}"))
        wide = wide.join(part, on="sid", how="left")
    mismatch = hits.filter(~pl.col("ok")).group_by("sid").agg(
        pl.concat_str(pl.col("key"), pl.lit(": "), pl.col("disagreed"), pl.lit(" disagrees")).unique(
            maintain_order=True).str.join("; ").alias("mismatch"))
    found_any = hits.filter(pl.col("key") != "no_kk").group_by("sid").agg(pl.len().alias("_found"))
    wide = wide.join(mismatch, on="sid", how="left").join(found_any, on="sid", how="left")

    rule_cols = [f"rule_{k}" for k in NIK_KEYS]
    invalid = pl.concat_str(
        [pl.when(pl.col(c).is_not_null() & (pl.col(c) != "empty")).then(pl.concat_str(pl.lit(f"{k}: "), pl.col(c)))
         for k, c in zip(NIK_KEYS, rule_cols, strict=True)], separator="; ", ignore_nulls=True)
    wide = wide.join(stu.select("sid", *NIK_KEYS, *rule_cols).with_columns(invalid.alias("invalid")), on="sid")

    fam_cols = [pl.col(f"fam_{k}") for k in PRECEDENCE]
    decided_by = pl.lit(None, dtype=pl.String)
    for key in reversed(PRECEDENCE):
        decided_by = pl.when(pl.col(f"fam_{key}").is_not_null()).then(pl.lit(key)).otherwise(decided_by)
    conflict = (pl.col("fam_nik").is_not_null() & pl.col("fam_nik_ibu").is_not_null()
                & (pl.col("fam_nik") != pl.col("fam_nik_ibu"))) | pl.any_horizontal(
        [pl.col(f"n_{k}") > 1 for k in PRECEDENCE]).fill_null(False)
    any_valid = pl.any_horizontal([pl.col(k).is_not_null() for k in NIK_KEYS])
    any_invalid = pl.col("invalid").is_not_null() & (pl.col("invalid") != "")
    wide = wide.with_columns(
        decided_by.alias("matched_by"), pl.coalesce(fam_cols).alias("no_kk"),
        pl.coalesce(pl.col("pid_nik"), pl.col("pid_no_kk")).alias("pid"),
        conflict.alias("_conflict"),
        pl.when(pl.col("fam_nik").is_not_null() & pl.col("fam_nik_ibu").is_not_null()
                & (pl.col("fam_nik") != pl.col("fam_nik_ibu"))).then(pl.col("fam_nik_ibu")).alias("other_no_kk"))
    wide = wide.join(reg.families.select("no_kk", "pkh_status"), on="no_kk", how="left")
    outcome = (
        pl.when(pl.col("_conflict")).then(pl.lit("IN_REVIEW"))
        .when(pl.col("matched_by").is_not_null()).then(
            pl.when(pl.col("pkh_status") == "AKTIF").then(pl.lit("PKH_RECIPIENT"))
            .otherwise(pl.lit("NOT_PKH_RECIPIENT")))
        .when(pl.col("mismatch").is_not_null() & pl.col("_found").is_not_null()).then(pl.lit("NIK_MISMATCH"))
        .when(any_valid).then(pl.lit("NOT_REGISTERED"))
        .when(any_invalid).then(pl.lit("NIK_INVALID"))
        .otherwise(pl.lit("NO_NIK"))
    )
    others = pl.concat_str(
        [pl.when(pl.col(f"fam_{k}").is_not_null() & (pl.col(f"fam_{k}") != pl.col("no_kk"))).then(
            pl.lit(f"{k} verified in another family")) for k in PRECEDENCE], separator="; ", ignore_nulls=True)
    wide = wide.with_columns(outcome.alias("outcome"), others.alias("notes")).with_columns(
        pl.when(pl.col("outcome") == "IN_REVIEW").then(None).otherwise(pl.col("matched_by")).alias("matched_by"),
        pl.when(pl.col("notes") == "").then(None).otherwise(pl.col("notes")).alias("notes"),
        pl.when(pl.col("invalid") == "").then(None).otherwise(pl.col("invalid")).alias("invalid"))
    return wide.select([pl.col(c).cast(t) for c, t in RESULT_SCHEMA.items()]).sort("sid")
