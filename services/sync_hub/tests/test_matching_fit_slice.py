"""Fitting the fallback model from a slice of the registry (what a planning job holds) gives the model fitted on
the whole registry, on a generated world: the same candidate-pair patterns and prior, u and m within sampling
tolerance, and the same decisions for every student. The slice's own persons would not do for u."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from bench.matching.world import World, load_world
from services.sync_hub.matching import fallback, levels
from services.sync_hub.matching.frames import NIK_KEYS, SAMPLE_SCHEMA, Registry, RegistryStats, students_frame
from worldgen.config import Shares, WorldConfig
from worldgen.generate import generate_world

TODAY = date(2026, 7, 15)
SETTINGS = fallback.Settings(train_students=500)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root: Path = tmp_path_factory.mktemp("world")
    # registry five times the students, as the real one is; ~40 kabupaten
    generate_world(WorldConfig(seed=7, n_families=8000, shares=Shares(registry_only=0.4)), root)
    return load_world(root)


def slice_for(reg: Registry, stu: pl.DataFrame) -> Registry:
    """Whole families of every person the students reach: their blocks (every kabupaten a record names x birth
    year), the other blocking rules (``fallback.RULES``: name words in such a kabupaten, name words and birth
    date, mother's name and birth date, mother's name in such a kabupaten), and their NIK and KK keys."""
    words = fallback.name_words(pl.col("nama")).alias("words")
    s = levels.prepare_students(stu).with_columns(pl.col("dob").dt.year().alias("yr"), words)
    places = pl.concat([s.select(pl.col(c).str.slice(0, 4).alias("kab"), "yr", "words",
                                 pl.when(pl.col("ibu") != "").then(pl.col("ibu")).alias("ibu"))
                        for c in ("wil", "no_kk", "nik_digits")]).drop_nulls("kab").unique()
    blocks = places.select("kab", "yr").drop_nulls().unique()
    p = reg.persons.with_columns(pl.col("wil").str.slice(0, 4).alias("kab"), pl.col("dob").dt.year().alias("yr"),
                                 words)
    named = [p.join(places.select("kab", "words").drop_nulls().unique(), on=["kab", "words"], how="semi"),
             p.join(s.select("words", "dob").drop_nulls().unique(), on=["words", "dob"], how="semi"),
             p.join(s.filter(pl.col("ibu") != "").select("ibu", "dob").drop_nulls().unique(), on=["ibu", "dob"],
                    how="semi"),
             p.join(places.select("kab", "ibu").drop_nulls().unique(), on=["kab", "ibu"], how="semi")]
    niks = pl.concat([s.select(pl.col(k).alias("nik")) for k in NIK_KEYS]).drop_nulls()
    kks = s.select("no_kk").drop_nulls()
    fams = pl.concat([p.join(blocks, on=["kab", "yr"], how="semi").select("no_kk"), *[n.select("no_kk") for n in named],
                      p.join(niks, on="nik", how="semi").select("no_kk"), kks,
                      reg.kk_lama.join(kks.rename({"no_kk": "old_kk"}), on="old_kk", how="semi").select("no_kk")]
                     ).unique()
    persons = reg.persons.join(fams, on="no_kk", how="semi").sort("pid").drop("pid", "wil")
    return Registry.build(persons, reg.families.join(fams, on="no_kk", how="semi"),
                          reg.kk_lama.join(fams, on="no_kk", how="semi"), reg.observed_seq, raw_names=False)


def random_persons(reg: Registry, n: int, seed: int) -> pl.DataFrame:
    """What ``replica.sample.random_persons`` reads from the database, drawn from the frames."""
    old = reg.kk_lama.group_by("no_kk").agg(pl.col("old_kk").max())
    return reg.persons.sample(n, seed=seed).join(old, on="no_kk", how="left").select(list(SAMPLE_SCHEMA))


def u_apart(a: fallback.Model, b: fallback.Model, pairs: int) -> float:
    """The largest gap between two u estimates from ``pairs`` random pairs each, in standard errors (the
    binomial one of each level's share, plus the smoothing ``estimate_u`` adds)."""
    worst = 0.0
    for ua, ub in zip(a.u, b.u, strict=True):
        se = np.sqrt(ua * (1 - ua) / pairs + ub * (1 - ub) / pairs) + 1.0 / pairs
        worst = max(worst, float(np.max(np.abs(ua - ub) / se)))
    return worst


def decided(d: pl.DataFrame) -> pl.DataFrame:
    """What a decision is: the band, and the family (and person) where it links or asks a reviewer."""
    linked = pl.col("band") != "none"
    return d.select("sid", "band", pl.when(linked).then(pl.col("no_kk")).alias("no_kk"),
                    pl.when(linked).then(pl.col("pid")).alias("pid"))


def test_a_model_fitted_from_a_slice_a_random_sample_and_the_true_counts_decides_as_the_whole_one(
        world: World) -> None:
    reg = world.registry
    stu = students_frame(world.students, TODAY)
    # the sample of a unit-like planner: the students of the three largest kabupaten (their slice is ~10%
    # of the registry, the same few kabupaten: what biases a slice)
    kab = pl.col("wil").str.slice(0, 4)
    top = stu.select(kab.alias("kab"))["kab"].value_counts().sort("count", descending=True)["kab"][:3]
    sample = fallback.training_sample(stu.filter(kab.is_in(top.implode())), SETTINGS)
    part = slice_for(reg, sample)
    # (the blocking rules beyond the kabupaten blocks reach further: ~20 % of this small registry, was ~10 %)
    assert sample.height == SETTINGS.train_students and part.persons.height < reg.persons.height / 4

    stats = RegistryStats(reg.observed_seq, reg.persons.height, reg.families.height)
    whole = fallback.train(sample, reg, SETTINGS)
    fitted = fallback.train(sample, part, SETTINGS, stats=stats, population=random_persons(reg, 5000, seed=3))
    # EM saw exactly the whole registry's candidate-pair patterns; the prior starts the same (the deterministic
    # share) and is estimated from the same counts with u from other random pairs: within 1 %
    assert np.array_equal(fallback.pattern_counts(sample, part)[0], fallback.pattern_counts(sample, reg)[0])
    assert fitted.stats["share_deterministic"] == whole.stats["share_deterministic"]
    assert fitted.prior == pytest.approx(whole.prior, rel=0.01) and fitted.stats["pairs"] == whole.stats["pairs"]
    # the record prior: estimated over the same records' candidates (those without a key-equal one)
    assert fitted.stats["record_students"] == whole.stats["record_students"] > 0
    assert fitted.stats["record_share_estimated"] == pytest.approx(whole.stats["record_share_estimated"], rel=0.02)
    # u from other random pairs: within sampling error; m within 0.01 on every level
    assert u_apart(whole, fitted, int(whole.stats["u_pairs"])) < 4.0
    assert max(float(np.max(np.abs(a - b))) for a, b in zip(whole.m, fitted.m, strict=True)) < 0.01
    # every student of the world decided against the whole registry: the same decisions
    d_whole = fallback.run(stu, reg, whole, SETTINGS).decisions
    d_fitted = fallback.run(stu, reg, fitted, SETTINGS).decisions
    assert d_whole.filter(pl.col("band") == "auto").height > stu.height / 2
    assert decided(d_fitted).equals(decided(d_whole))
    assert float((d_whole["probability"] - d_fitted["probability"]).abs().max()) < 0.01

    # the slice alone would not do: its size for the prior, its own persons (the same kabupaten) for u
    naive = fallback.train(sample, part, SETTINGS)
    assert naive.prior > 4 * whole.prior  # the slice holds ~1/5 of the registry
    assert u_apart(whole, naive, int(whole.stats["u_pairs"])) > 20.0
    wilayah = [f for f, _, _ in levels.FIELDS].index("wilayah")
    assert naive.u[wilayah][1] > 3 * whole.u[wilayah][1]  # "same kabupaten" looks common within the slice
