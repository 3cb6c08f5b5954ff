"""The field errors of issue 14 (``errors.apply_field_errors``): a name in another order, a birth-year typo, a
missing birth date, a school in another kabupaten; each at its rate, each in the ground truth, and none when
their rates are 0 (the default: older worlds are generated as before)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from worldgen.config import FIELD_ERROR_RATES, ErrorRates, WorldConfig
from worldgen.errors import FIELD_ERRORS, ErrorCode
from worldgen.generate import generate_world
from worldgen.truth import read_ground_truth

RATES = {k: 0.10 for k in FIELD_ERROR_RATES}


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    plain, raised = tmp_path_factory.mktemp("plain"), tmp_path_factory.mktemp("field_errors")
    generate_world(WorldConfig(seed=5, n_families=1500), plain)
    generate_world(WorldConfig(seed=5, n_families=1500, error_rates=ErrorRates(**RATES)), raised)
    return plain, raised


def _records(root: Path) -> pl.DataFrame:
    schools = pl.concat([
        pl.read_ndjson(root / "dapodik" / "sekolah.jsonl").select(pl.col("sekolah_id").alias("inst"),
                                                                    "kode_wilayah"),
        pl.read_ndjson(root / "emis" / "madrasah.jsonl").select(pl.col("nsm").alias("inst"), "kode_wilayah")])
    rows = pl.concat([
        pl.read_ndjson(root / "dapodik" / "peserta_didik.jsonl").select(
            pl.col("peserta_didik_id").alias("student_id"), pl.col("sekolah_id").alias("inst"), "nama",
            "tanggal_lahir"),
        pl.read_ndjson(root / "emis" / "siswa.jsonl").select(
            pl.col("siswa_id").alias("student_id"), pl.col("nsm").alias("inst"), "nama", "tanggal_lahir")])
    return rows.join(schools, on="inst", how="left")


def test_no_field_errors_by_default(worlds: tuple[Path, Path]) -> None:
    truth = read_ground_truth(worlds[0])
    assert not any(set(g.errors) & set(FIELD_ERRORS) for g in truth)


def test_each_field_error_at_its_rate_and_in_the_ground_truth(worlds: tuple[Path, Path]) -> None:
    plain, raised = worlds
    truth = {g.student_id: g for g in read_ground_truth(raised)}
    before = {g.student_id: g for g in read_ground_truth(plain)}
    old = {r["student_id"]: r for r in _records(plain).iter_rows(named=True)}
    new = {r["student_id"]: r for r in _records(raised).iter_rows(named=True)}
    kab = pl.read_ndjson(raised / "kemensos" / "keluarga.jsonl").select(
        "no_kk", pl.col("kode_wilayah").str.slice(0, 4).alias("kab"))
    family_kab = dict(kab.iter_rows())
    assert set(truth) == set(before)  # the same records; the field errors come on top
    for code in FIELD_ERRORS:
        hit = [sid for sid, g in truth.items() if code in g.errors]
        assert 0.04 < len(hit) / len(truth) < 0.16, code  # rate 0.10 (a few records are not eligible)
        for sid in hit:
            a, b = old[sid], new[sid]
            if code is ErrorCode.NAME_PARTS_REORDERED:
                assert b["nama"] != a["nama"] or ErrorCode.NAME_VARIANT in truth[sid].errors
                assert sorted(b["nama"].lower().split()) == sorted(a["nama"].lower().split()) or (
                    ErrorCode.NAME_VARIANT in truth[sid].errors)
            elif code is ErrorCode.BIRTH_YEAR_TYPO:
                x, y = date.fromisoformat(a["tanggal_lahir"]), date.fromisoformat(b["tanggal_lahir"])
                assert (x.month, x.day) == (y.month, y.day) and abs(x.year - y.year) > 1
            elif code is ErrorCode.BIRTH_DATE_MISSING:
                assert b["tanggal_lahir"] is None
            elif truth[sid].true_no_kk is not None:
                assert b["kode_wilayah"][:4] != family_kab[truth[sid].true_no_kk]
    missing = {sid for sid, g in truth.items() if ErrorCode.BIRTH_DATE_MISSING in g.errors}
    assert {sid for sid, r in new.items() if r["tanggal_lahir"] is None} == missing
