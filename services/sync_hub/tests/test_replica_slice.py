"""``replica.slice.registry_for`` holds everything the matcher can touch: for random sets of students, the
decisions over the slice equal the decisions over the whole replica (same fitted model), on SQLite and
PostgreSQL.

The world is generated (``worldgen``) and written into the replica through its own writer
(``repository.write_page``, which also fills the denormalised ``kab``); hypothesis draws the students and
erases some of their keys (NIKs, KK number) so the fallback's blocks and nationwide pass are exercised too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select
from sqlalchemy import text as sa_text

from bench.matching.world import load_world
from services.sync_hub.domain.students import StudentView
from services.sync_hub.main import MIGRATIONS
from services.sync_hub.matching import deterministic, fallback, scalar_fallback
from services.sync_hub.matching.frames import students_frame
from services.sync_hub.matching.service import Matcher, to_rows
from services.sync_hub.replica import repository as repo
from services.sync_hub.replica import service as replica
from services.sync_hub.replica import slice as slice_module
from services.sync_hub.replica.models import ReplicaAnggotaRow
from services.sync_hub.replica.slice import registry_for
from shared import names
from shared.clock import utcnow
from shared.contracts.hub import SourceSystem
from shared.db import make_engine, migrate, session_scope

KEYS = ("nik", "nik_ibu", "nik_ayah", "nik_wali", "no_kk")


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from worldgen.config import WorldConfig
    from worldgen.generate import generate_world

    out = tmp_path_factory.mktemp("slice_world")
    generate_world(WorldConfig(seed=11, n_families=400), out)
    return out


def _write_replica(engine: Engine, root: Path) -> None:
    k = root / "kemensos"
    fam = pl.read_ndjson(k / "keluarga.jsonl")
    pkh = pl.read_ndjson(k / "pkh.jsonl")
    latest = pkh.sort("tahun", "tahap", descending=True).group_by("no_kk", maintain_order=True).first()
    fam = fam.join(latest.select("no_kk", "status", "tahun", "tahap"), on="no_kk", how="left")
    members = pl.read_ndjson(k / "anggota_keluarga.jsonl", infer_schema_length=None).with_columns(
        pl.col("tanggal_lahir").str.to_date())
    raw = pl.concat([members["nama"], members["nama_ibu_kandung"]]).unique()
    normal = dict(zip(raw.to_list(), names.normalise_series(raw).to_list(), strict=True))
    hist_path = k / "kk_history.jsonl"
    hist = pl.read_ndjson(hist_path) if hist_path.stat().st_size else pl.DataFrame(
        schema={"no_kk_lama": pl.String, "no_kk": pl.String})
    with session_scope(engine) as session:
        repo.write_page(
            session, replaced=[], claimed_niks=[], claimed_old_kks=[], rewritten=[],
            families={"no_kk": fam["no_kk"].to_list(), "kode_wilayah": fam["kode_wilayah"].to_list(),
                      "no_kks": fam["no_kks"].to_list(), "version": [3] * fam.height,
                      "pkh_status": fam["status"].to_list(),
                      "pkh_periode": [f"{t} tahap {p}" if t else None for t, p in zip(fam["tahun"], fam["tahap"],
                                                                                        strict=True)],
                      "pkh_tahun": fam["tahun"].to_list(), "pkh_tahap": fam["tahap"].to_list()},
            members={"nik": members["nik"].to_list(), "no_kk": members["no_kk"].to_list(),
                     "nama": members["nama"].to_list(), "jenis_kelamin": members["jenis_kelamin"].to_list(),
                     "tanggal_lahir": members["tanggal_lahir"].to_list(),
                     "nama_ibu_kandung": members["nama_ibu_kandung"].to_list(),
                     "hubungan_keluarga": members["hubungan_keluarga"].to_list(),
                     "nama_norm": [normal[n] for n in members["nama"].to_list()],
                     "ibu_norm": [normal[n] for n in members["nama_ibu_kandung"].to_list()]},
            kk_lama={"old_kk": hist["no_kk_lama"].to_list(), "no_kk": hist["no_kk"].to_list()})
        repo.save_state(session, "c", 42, utcnow())


@dataclass
class Loaded:
    engine: Engine
    students: list[StudentView]
    regions: dict[str, str]
    model: fallback.Model


def _views(students: pl.DataFrame) -> tuple[list[StudentView], dict[str, str]]:
    views, regions = [], {}
    for r in students.iter_rows(named=True):
        sid = f"{r['system']}:{r['student_id']}"
        views.append(StudentView(
            system=SourceSystem(r["system"]), student_id=sid, nama=r["nama"] or "", jenis_kelamin=r["sex"],
            tanggal_lahir=r["dob"], nik=r["nik"], no_kk=r["no_kk"], nama_ibu_kandung=r["nama_ibu"] or "",
            nik_ibu=r["nik_ibu"], nama_ayah=r["nama_ayah"] or "", nik_ayah=r["nik_ayah"],
            nama_wali=r["nama_wali"] or "", nik_wali=r["nik_wali"], current={}, provenance={}))
        if r["wil"]:
            regions[sid] = r["wil"]
    return views, regions


@pytest.fixture
def loaded(db_url: str, world_dir: Path) -> Loaded:
    migrate(MIGRATIONS, db_url)
    engine = make_engine(db_url)
    _write_replica(engine, world_dir)
    students, regions = _views(load_world(world_dir).students)
    whole = replica.load(engine)
    model = fallback.train(students_frame(to_rows(students, regions)), whole, fallback.Settings())
    return Loaded(engine, students, regions, model)


def _erase(view: StudentView, keys: frozenset[str]) -> StudentView:
    data = {f: getattr(view, f) for f in StudentView.__dataclass_fields__}
    data.update(dict.fromkeys(keys))
    return StudentView(**data)


def test_every_member_carries_its_familys_kabupaten(loaded: Loaded) -> None:
    with session_scope(loaded.engine) as session:
        missing = session.scalar(select(func.count()).select_from(ReplicaAnggotaRow).where(
            ReplicaAnggotaRow.kab.is_(None)))  # type: ignore[union-attr]
        assert missing == 0
    whole = replica.load(loaded.engine)
    assert whole.persons.height > 1000


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(data=st.data())
def test_decisions_over_the_slice_equal_those_over_the_whole_replica(loaded: Loaded, data: st.DataObject) -> None:
    n = len(loaded.students)
    picks = data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=40, unique=True))
    erased = data.draw(st.lists(st.frozensets(st.sampled_from(KEYS)), min_size=len(picks), max_size=len(picks)))
    students = [_erase(loaded.students[i], keys) for i, keys in zip(picks, erased, strict=True)]
    whole = Matcher(replica.load(loaded.engine), model=loaded.model).match(students, loaded.regions)
    stu = students_frame(to_rows(students, loaded.regions))
    with session_scope(loaded.engine) as session:
        part = registry_for(session, stu)
    assert part.persons.height < replica.load(loaded.engine).persons.height
    sliced = Matcher(part, model=loaded.model).match(students, loaded.regions)
    assert sliced == whole
    # as a unit runs it: the matcher given the very frame the slice was read for takes the slice's first pass
    # over its key rows (``deterministic.KEY_ROWS_LINK``) instead of running it again
    assert part._cache[deterministic.KEY_ROWS_LINK][0] is stu
    assert Matcher(part, model=loaded.model).match(students, loaded.regions, frame=stu) == whole


def test_every_member_carries_the_initials_of_its_name(loaded: Loaded) -> None:
    with session_scope(loaded.engine) as session:
        rows = session.execute(select(ReplicaAnggotaRow.nama_norm, ReplicaAnggotaRow.inisial)).all()
    assert rows and all(ini == fallback.initials(name) for name, ini in rows)


@pytest.mark.parametrize("rule", ["birth date x initials", "kabupaten x initials"])
def test_the_slice_holds_what_the_initials_rules_find(loaded: Loaded, rule: str) -> None:
    """Half the students without a birth date (the hub's contracts require one; the fallback's rule for a
    missing one is read through the slice all the same) and every name a letter off (no name rule finds them)."""
    stu = students_frame(to_rows(loaded.students[:60], loaded.regions)).with_columns(
        pl.when(pl.col("sid") % 2 == 0).then(None).otherwise(pl.col("dob")).alias("dob"),
        (pl.col("nama") + "x").alias("nama"))

    def found(reg: object) -> set[tuple[int, str]]:
        r = fallback._registry(reg)  # type: ignore[arg-type]
        pairs = fallback._rule_pairs(fallback.prepare_students(stu), r, fallback._student_blocks(stu))[rule]
        nik = reg.persons["nik"].to_list()  # type: ignore[attr-defined]
        return {(row, nik[r.pid[p]]) for row, p in pairs.select("row", "rpos").iter_rows()}

    with session_scope(loaded.engine) as session:
        part = registry_for(session, stu, every_block=True)
    whole = found(replica.load(loaded.engine))
    assert whole and found(part) == whole


def test_the_slice_holds_what_the_rescue_rule_finds(loaded: Loaded) -> None:
    """Records without a key (no NIK digits, no KK number) and every name's last word replaced: the rescue rule
    (``fallback.RESCUE_RULES``: the birth date and a letter in common between the initials) reaches their persons
    through the 51 initials keys the slice reads for a record without a key; a record with a key reads its own
    initials only."""
    stu = students_frame(to_rows(loaded.students[:60], loaded.regions)).with_columns(
        pl.lit(None, pl.String).alias("nik_digits"), pl.lit(None, pl.String).alias("no_kk"),
        (pl.col("nama").str.replace(r"\S+$", "zulkarnain")).alias("nama"))

    def found(reg: object) -> set[tuple[int, str]]:
        r = fallback._registry(reg)  # type: ignore[arg-type]
        pairs = fallback._rescue_pairs(fallback.prepare_students(stu), r, np.arange(stu.height))
        nik = reg.persons["nik"].to_list()  # type: ignore[attr-defined]
        return {(row, nik[r.pid[p]]) for row, p in pairs.select("row", "rpos").iter_rows()}

    assert fallback.rescued(fallback.prepare_students(stu)).all()
    with session_scope(loaded.engine) as session:
        part = registry_for(session, stu, every_block=True)
    whole = found(replica.load(loaded.engine))
    assert whole and found(part) == whole
    assert slice_module._initials_keys("bs", {"no_kk": None, "nik_digits": None, "rule_nik": None}) == \
        scalar_fallback.initials_sharing("bs") and len(scalar_fallback.initials_sharing("bs")) == 51
    assert slice_module._initials_keys("bs", {"no_kk": "3201010101200001", "nik_digits": None,
                                              "rule_nik": None}) == {"bs"}


def test_the_widened_slice_read_in_one_statement_holds_what_each_kind_of_key_reads(loaded: Loaded) -> None:
    """``repository.person_rows_meeting`` (a check's step 2, every kind of key in one statement) reads the rows
    ``person_columns_meeting`` reads kind by kind, and over ``KEY_CHUNK`` keys it reads them kind by kind."""
    from services.sync_hub.matching import scalar
    from services.sync_hub.replica import repository as repo

    need = scalar.students(to_rows(loaded.students[:40], loaded.regions))
    keys = slice_module._fallback_keys(need)
    assert sum(1 for ks in keys.values() if ks) >= 4  # several kinds at once
    with session_scope(loaded.engine) as session:
        one = repo.person_rows_meeting(session, keys)
        kind_by_kind = [row for kind, ks in keys.items() if ks
                        for row in zip(*repo.person_columns_meeting(session, kind, ks), strict=True)]
        kind_by_kind = [(*r[:4], date.fromisoformat(r[4]) if isinstance(r[4], str) else r[4], *r[5:])
                        for r in kind_by_kind]
        assert one and sorted(one) == sorted(kind_by_kind)
        assert all(isinstance(r[4], date) for r in one)
        assert repo.person_rows_meeting(session, {k: set() for k in keys}) == []
        chunk = repo.KEY_CHUNK
        repo.KEY_CHUNK = 3
        try:
            assert sorted(repo.person_rows_meeting(session, keys)) == sorted(one)
        finally:
            repo.KEY_CHUNK = chunk


@pytest.mark.postgres
def test_a_checks_widened_read_seeks_each_key_whatever_plan_postgresql_keeps(postgres_url: str) -> None:
    """The one statement of ``person_rows_meeting`` runs as a prepared statement (psycopg prepares it from its fifth
    use), whose generic plan cannot see how many keys the JSON arrays hold. Planned as joins it read the kabupaten
    + year-of-birth block by a hash join over the whole table in parallel workers (15-25 ms of server CPU per check
    on a 5,000-family registry); as one index seek per key it stays a nested loop of index scans, which this test
    reads off the generic plan's EXPLAIN over 25,000 members."""
    migrate(MIGRATIONS, postgres_url)
    engine = make_engine(postgres_url)
    try:
        with session_scope(engine) as session:
            session.execute(sa_text(
                "INSERT INTO replica_anggota (nik, no_kk, nama, jenis_kelamin, tanggal_lahir, nama_ibu_kandung, "
                "hubungan_keluarga, nama_norm, ibu_norm, kab, inisial) "
                "SELECT lpad(g::text, 16, '0'), lpad((g / 4)::text, 16, '0'), 'n' || (g % 3000), 'L', "
                "date '1950-01-01' + (g * 7919 % 25000), 'i' || (g % 2500), 'ANAK', 'nama ' || (g % 3000), "
                "'ibu ' || (g % 2500), (3500 + g % 38)::text, chr(97 + g % 26) || chr(97 + (g / 26) % 26) "
                "FROM generate_series(1, 25000) AS g"))
            session.execute(sa_text("ANALYZE replica_anggota"))
        keys = {"block": {("3507", date(2016, 1, 1), date(2017, 1, 1))},
                "nama_kab": {("nama 12", "3507")}, "nama_birth": {("nama 12", date(2016, 1, 12))},
                "ibu_birth": {("ibu 3", date(2016, 1, 12))}, "ibu_kab": {("ibu 3", "3507")},
                "initials_birth": {("kp", date(2016, 1, 12))}, "kab_initials": {("3507", "kp")}}
        sql = " UNION ALL ".join(repo._person_seek(kind) for kind in keys)
        params = [json.dumps([[v.isoformat() if isinstance(v, date) else v for v in key] for key in ks])
                  for ks in keys.values()]
        with session_scope(engine) as session:
            cursor = session.connection().connection.cursor()
            try:
                cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
                numbered = sql.replace("%s", "{}").format(*(f"${i + 1}" for i in range(len(keys))))
                cursor.execute(f"PREPARE widened AS {numbered}")
                literals = ", ".join("'" + p.replace("'", "''") + "'" for p in params)  # EXPLAIN EXECUTE binds none
                cursor.execute(f"EXPLAIN EXECUTE widened({literals})")
                plan = "\n".join(row[0] for row in cursor.fetchall())
                cursor.execute("DEALLOCATE widened")
            finally:
                cursor.close()
            assert "Seq Scan" not in plan and "Gather" not in plan and "Hash Join" not in plan, plan
            assert plan.count("Index") >= len(keys), plan
            rows = repo.person_rows_meeting(session, keys)
        assert rows and all(r[3] == "L" and isinstance(r[4], date) for r in rows)
        # every row meets a key it was asked for (the block's members are of kabupaten 3507, born in 2016)
        assert any(r[4].year == 2016 for r in rows)
    finally:
        engine.dispose()
