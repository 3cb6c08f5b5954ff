"""The reference: Splink 5 + DuckDB on the same frames (optional extra ``bench``; never imported by the hub).

One Fellegi-Sunter model in which NIK is one comparison, as in ../shared/linkage_bench/bench_splink.py:
NIK (exact / Damerau-Levenshtein <= 1), normalised name (Jaro-Winkler + term frequencies), mother's name,
birth date, region; blocking on NIK, (kabupaten, birth year), (name, birth date), (mother, birth date).
"""

from __future__ import annotations

import logging
import time

import polars as pl

OFFSET = 100_000_000


def run(stu: pl.DataFrame, persons: pl.DataFrame, threads: int = 2, u_pairs: float = 1e6) -> tuple[pl.DataFrame, dict]:
    """Returns (sid, pid, probability) of each student's best registry person, and timings."""
    import duckdb
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    logging.getLogger("splink").setLevel(logging.WARNING)
    t0 = time.perf_counter()
    s = stu.select((pl.col("sid") + OFFSET).alias("unique_id"), pl.col("nik_digits").alias("nik"),
                   pl.when(pl.col("nama") == "").then(None).otherwise(pl.col("nama")).alias("nm"),
                   pl.when(pl.col("ibu") == "").then(None).otherwise(pl.col("ibu")).alias("ibu"),
                   pl.col("dob").cast(pl.String).alias("dob"), pl.col("wil").alias("kode_desa"),
                   pl.coalesce(pl.col("wil").str.slice(0, 4), pl.col("no_kk").str.slice(0, 4)).alias("kab"),
                   pl.col("dob").dt.year().cast(pl.String).alias("yr"))
    r = persons.select(pl.col("pid").alias("unique_id"), "nik",
                       pl.when(pl.col("nama") == "").then(None).otherwise(pl.col("nama")).alias("nm"),
                       pl.when(pl.col("ibu") == "").then(None).otherwise(pl.col("ibu")).alias("ibu"),
                       pl.col("dob").cast(pl.String).alias("dob"), pl.col("wil").alias("kode_desa"),
                       pl.col("wil").str.slice(0, 4).alias("kab"), pl.col("dob").dt.year().cast(pl.String).alias("yr"))
    con = duckdb.connect()
    con.execute(f"SET threads={threads}")
    api = DuckDBAPI(connection=con)
    sdf_s = api.register(s.to_arrow(), dataset_display_name="students")
    sdf_r = api.register(r.to_arrow(), dataset_display_name="registry")
    region = cl.CustomComparison(output_column_name="kode_desa", comparison_levels=[
        cll.NullLevel("kode_desa"), cll.ExactMatchLevel("kode_desa"),
        cll.CustomLevel("substr(kode_desa_l, 1, 6) = substr(kode_desa_r, 1, 6)", label_for_charts="same kecamatan"),
        cll.CustomLevel("substr(kode_desa_l, 1, 4) = substr(kode_desa_r, 1, 4)", label_for_charts="same kabupaten"),
        cll.ElseLevel()])
    brs = [block_on("nik"), block_on("kab", "yr"), block_on("nm", "dob"), block_on("ibu", "dob")]
    settings = SettingsCreator(
        link_type="link_only", unique_id_column_name="unique_id", blocking_rules_to_generate_predictions=brs,
        comparisons=[
            cl.DamerauLevenshteinAtThresholds("nik", [1]),
            cl.JaroWinklerAtThresholds("nm", [0.95, 0.88]).configure(term_frequency_adjustments=True),
            cl.JaroWinklerAtThresholds("ibu", [0.95, 0.85]),
            cl.DateOfBirthComparison("dob", input_is_string=True, datetime_format="%Y-%m-%d"),
            region],
        retain_intermediate_calculation_columns=False, retain_matching_columns=False)
    linker = Linker([sdf_s, sdf_r], settings)
    t_prep = time.perf_counter() - t0
    t = time.perf_counter()
    linker.training.estimate_probability_two_random_records_match([block_on("nik"), block_on("nm", "dob")],
                                                                  recall=0.85)
    linker.training.estimate_u_using_random_sampling(max_pairs=u_pairs, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("nik"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("nm", "dob"))
    t_train = time.perf_counter() - t
    t = time.perf_counter()
    pred = linker.inference.predict(threshold_match_probability=0.5)
    p = pl.from_arrow(pred.as_pyarrow_table()) if hasattr(pred, "as_pyarrow_table") else pl.from_pandas(
        pred.as_pandas_dataframe())
    t_pred = time.perf_counter() - t
    p = p.select(
        pl.when(pl.col("unique_id_l") >= OFFSET).then(pl.col("unique_id_l")).otherwise(pl.col("unique_id_r"))
        .alias("sid") - OFFSET,
        pl.when(pl.col("unique_id_l") >= OFFSET).then(pl.col("unique_id_r")).otherwise(pl.col("unique_id_l"))
        .alias("pid"), "match_probability", "match_weight")
    best = (p.sort("match_weight", descending=True).group_by("sid", maintain_order=True)
            .agg(pl.col("pid").first(), pl.col("match_probability").first().alias("probability"),
                 pl.col("match_weight").first().alias("w1"), pl.col("match_weight").slice(1, 1).first().alias("w2")))
    con.close()
    return best, {"prepare_s": round(t_prep, 2), "train_s": round(t_train, 2), "predict_s": round(t_pred, 2),
                  "pairs_above_0.5": p.height}
