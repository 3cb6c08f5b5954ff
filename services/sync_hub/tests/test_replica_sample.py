"""The replica described without loading it (``replica.sample``): its size in one snapshot, and a uniform random
sample of its persons in the matcher's frame schema; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
from sqlalchemy import Engine, text

from services.sync_hub.matching.frames import SAMPLE_SCHEMA, RegistryStats
from services.sync_hub.replica import sample
from services.sync_hub.replica import service as replica
from services.sync_hub.tests import test_replica
from services.sync_hub.tests.test_replica import FakeFeed
from shared.contracts.common import JenisKelamin
from shared.contracts.kemensos import Anggota, ChangePage, HubunganKeluarga, Keluarga, KeluargaChange
from shared.db import session_scope

AT = datetime(2026, 7, 1, tzinfo=UTC)
FAMILIES = 400  # 4 persons each; the first half in kabupaten 3201, written first, the second half in 3273


def family(i: int) -> KeluargaChange:
    wil = "3201010001" if i < FAMILIES // 2 else "3273010001"
    no_kk = f"{wil[:6]}0101{i:06d}"
    members = [Anggota(nik=f"{wil[:6]}0101{i:05d}{j}", nama=f"Hj. Siti {i} {j}", jenis_kelamin=JenisKelamin.P,
                       tempat_lahir="", tanggal_lahir=date(1990 + j, 1, 1), nama_ibu_kandung="Moch. Ibu",
                       hubungan_keluarga=HubunganKeluarga.ANAK) for j in range(4)]
    return KeluargaChange(
        no_kk=no_kk, version=1, updated_at=AT,
        keluarga=Keluarga(no_kk=no_kk, kode_wilayah=wil, desil=1, dtsen_triwulan="2026-Q3", no_kks=None, version=1,
                          updated_at=AT, pkh=None),
        anggota=members, no_kk_lama=[f"{wil[:6]}0101{900000 + i:06d}"] if i % 50 == 0 else [])


def fill(engine: Engine) -> None:
    pages = [ChangePage(items=[family(i) for i in range(start, start + 100)], next_cursor=f"c{start}",
                        has_more=start + 100 < FAMILIES, observed_seq=start + 100)
             for start in range(0, FAMILIES, 100)]
    replica.refresh(engine, FakeFeed(*pages))  # type: ignore[arg-type]


def test_stats_are_the_replicas_counts_and_sequence(engine: Engine) -> None:
    with session_scope(engine) as s:
        assert sample.stats(s) == RegistryStats(0, 0, 0)
        assert sample.random_persons(s, 10, seed=1).is_empty()
    fill(engine)
    with session_scope(engine) as s:
        assert sample.stats(s) == RegistryStats(observed_seq=FAMILIES, persons=4 * FAMILIES, families=FAMILIES)


def test_random_persons_are_a_uniform_sample_in_the_matchers_schema(engine: Engine) -> None:
    fill(engine)
    with session_scope(engine) as s:
        got = sample.random_persons(s, 300, seed=1)
        again = sample.random_persons(s, 300, seed=1)
        other = sample.random_persons(s, 300, seed=2)
        everyone = sample.random_persons(s, 10 * FAMILIES, seed=1)
    assert got.schema == pl.Schema(SAMPLE_SCHEMA) and got.height == 300 and got["nik"].n_unique() == 300
    assert got.equals(again)  # deterministic per seed (the table unchanged)
    assert got["nik"].is_in(other["nik"].implode()).sum() < 200  # another seed: another sample
    assert everyone.height == 4 * FAMILIES and set(got["nik"]) <= set(everyone["nik"])
    # uniform, not the rows written first: both halves of the registry, and every member position
    share = got["wil"].str.starts_with("3201").mean()
    assert 0.38 < share < 0.62  # type: ignore[operator]
    assert got["dob"].dt.year().n_unique() == 4
    # the stored normal forms, the family's region, a former KK number where the family has one
    first = everyone.row(0, named=True)
    assert (first["nama"], first["ibu"], first["sex"], first["hub"], first["wil"]) == (
        "siti", "muhammad ibu", "P", "ANAK", "3201010001")
    assert first["old_kk"] == "3201010101900000" and first["dob"] == date(1990, 1, 1)
    assert everyone.filter(pl.col("old_kk").is_not_null()).height == 4 * FAMILIES // 50


def test_the_sample_is_the_same_whatever_order_the_rows_were_written_in(engine: Engine) -> None:
    """Two replicas holding the same persons, written by pages in another order (another physical placement, other
    SQLite row ids), give the same sample: the fallback model of one world is the same from run to run."""
    fill(engine)
    with session_scope(engine) as s:
        first = sample.random_persons(s, 300, seed=7)
        window = sample.random_persons(s, 40, seed=7)
    test_replica.clear(engine)
    pages = [ChangePage(items=[family(i) for i in reversed(range(start, start + 50))], next_cursor=f"r{start}",
                        has_more=start > 0, observed_seq=FAMILIES - start)
             for start in reversed(range(0, FAMILIES, 50))]
    replica.refresh(engine, FakeFeed(*pages))  # type: ignore[arg-type]
    with session_scope(engine) as s:
        again = sample.random_persons(s, 300, seed=7)
        assert s.execute(text("SELECT count(*) FROM replica_anggota WHERE sample_key IS NULL")).scalar_one() == 0
    assert again.equals(first)
    assert set(window["nik"]) <= set(first["nik"])  # a smaller sample: the first persons of the same window


def test_the_sample_wraps_round_to_the_smallest_keys(engine: Engine) -> None:
    fill(engine)
    with session_scope(engine) as s:
        keys = sorted(s.execute(text("SELECT sample_key, nik FROM replica_anggota")).all())
        seed = next(i for i in range(10_000) if sample.sample_key(f"#{i}") > keys[-30][0])  # 30 keys or fewer after it
        got = set(sample.random_persons(s, 100, seed=seed)["nik"])
    start = sample.sample_key(f"#{seed}")
    after = [nik for key, nik in keys if key >= start]
    assert len(after) < 100 and got == {*after, *(nik for _, nik in keys[:100 - len(after)])}
    assert all(key == sample.sample_key(nik) for key, nik in keys)  # the writer's key is the NIK's hash
