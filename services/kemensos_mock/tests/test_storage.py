"""Storage on SQLite and PostgreSQL (``db_url``): migrations, load, lookup, paging, KK history, sequence."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, func, inspect, select

from services.kemensos_mock.kip import service as kip
from services.kemensos_mock.kip.models import KipRow
from services.kemensos_mock.kip.schemas import KipQuery
from services.kemensos_mock.main import MIGRATIONS
from services.kemensos_mock.registry import repository, service
from services.kemensos_mock.registry.models import AnggotaRow, PkhRow
from services.kemensos_mock.registry.schemas import KeluargaUpdate
from services.kemensos_mock.storage import metadata
from services.kemensos_mock.tests.world import ANAK1, ANAK2, KK1, KK2, STRANGER1, World
from services.kemensos_mock.world.service import LoadFailed, load_world
from shared.contracts.kemensos import KipRecord, PkhRecord
from shared.db import alembic_config, make_engine, migrate, session_scope

NEW_KK = "3201010505260005"


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    migrate(MIGRATIONS, db_url)
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def loaded(engine: Engine, world_dir: Path) -> Engine:
    load_world(engine, world_dir, chunk=4)
    return engine


@pytest.mark.usefixtures("real_migrations")  # the chain itself, not its template
def test_migrations_match_the_models_and_go_down_and_up(db_url: str, engine: Engine) -> None:
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    assert {"keluarga", "anggota_keluarga", "pkh_keanggotaan", "kip_penerbitan", "keluarga_kk_lama",
            "registry_sequence"} <= set(inspect(engine).get_table_names())
    command.downgrade(alembic_config(MIGRATIONS, db_url), "base")
    assert "keluarga" not in inspect(engine).get_table_names()
    migrate(MIGRATIONS, db_url)
    with session_scope(engine) as s:
        assert repository.observed_seq(s) == 0


def test_lookup_after_load(loaded: Engine, world: World) -> None:
    with session_scope(loaded) as s:
        answer = service.lookup_niks(s, [ANAK1, STRANGER1, ANAK1])
    assert answer.observed_seq == world.versioned_rows
    assert [r.found for r in answer.results] == [True, False, True]
    family = answer.results[0].family
    assert family is not None and family.no_kk == KK1 and family.pkh is not None
    assert family.pkh.periode == "2026 tahap II" and [k.value for k in family.pkh.komponen] == ["SD", "SMP"]
    assert family.updated_at.tzinfo is not None
    assert answer.results[0].person is not None and answer.results[0].person.nama == "SITI RAHAYU"


def test_kip_paging_with_ties_and_later_changes_sees_every_row_once(loaded: Engine, world: World) -> None:
    with session_scope(loaded) as s:  # three issuances change later: three more timestamps
        for row in world.kip[10:13]:
            kip.put_kip(s, KipRecord.model_validate({**row, "tahun": 2026}))
    seen: list[str] = []
    cursor = None
    with session_scope(loaded) as s:
        while True:
            page = kip.list_kip(s, KipQuery(limit=7, cursor=cursor))
            seen += [i.no_kip for i in page.items]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
    assert sorted(seen) == sorted(k["no_kip"] for k in world.kip)
    assert seen[-3:] == [k["no_kip"] for k in world.kip[10:13]]
    assert page.observed_seq == world.versioned_rows + 3


def test_new_kk_number_moves_members_and_pkh_and_keeps_the_old_one(loaded: Engine) -> None:
    with session_scope(loaded) as s:
        before = service.get_keluarga(s, KK1)
        after = service.update_keluarga(s, KK1, KeluargaUpdate(no_kk=NEW_KK, desil=2))
    assert after.no_kk == NEW_KK and after.desil == 2 and after.no_kk_lama == [KK1]
    assert after.version > before.version
    assert [m.nik for m in after.anggota] == [m.nik for m in before.anggota]
    assert after.pkh_riwayat == before.pkh_riwayat
    with session_scope(loaded) as s:
        assert s.execute(select(func.count()).select_from(AnggotaRow).where(AnggotaRow.no_kk == KK1)).scalar() == 0
        assert s.execute(select(func.count()).select_from(PkhRow).where(PkhRow.no_kk == NEW_KK)).scalar() == 3
        by_old = service.get_keluarga(s, KK1)
        assert by_old.no_kk == NEW_KK
        found = service.lookup_niks(s, [ANAK2]).results[0].family
        assert found is not None and found.no_kk == NEW_KK and found.version == after.version


def test_kk_number_of_another_family_is_a_conflict(loaded: Engine) -> None:
    from shared.errors import Conflict

    with pytest.raises(Conflict), session_scope(loaded) as s:
        service.update_keluarga(s, KK1, KeluargaUpdate(no_kk=KK2))
    with session_scope(loaded) as s:
        assert service.get_keluarga(s, KK1).no_kk == KK1


def test_pkh_change_takes_a_new_version_and_becomes_the_latest(loaded: Engine, world: World) -> None:
    with session_scope(loaded) as s:
        detail = service.put_pkh(s, PkhRecord(no_kk=KK2, status="AKTIF", komponen=["SD"], tahun=2026, tahap=3))
    assert detail.pkh is not None and detail.pkh.periode == "2026 tahap III"
    assert detail.version == world.versioned_rows + 1
    with session_scope(loaded) as s:  # replacing the same period: a new version again, no new row
        detail = service.put_pkh(s, PkhRecord(no_kk=KK2, status="GRADUASI", komponen=[], tahun=2026, tahap=3))
        assert s.execute(select(func.count()).select_from(PkhRow).where(PkhRow.no_kk == KK2)).scalar() == 2
    assert detail.version == world.versioned_rows + 2 and detail.pkh is not None
    assert detail.pkh.status.value == "GRADUASI"


def test_sequence_grows_and_timestamps_never_go_back(engine: Engine) -> None:
    with session_scope(engine) as s:
        a = repository.take_versions(s, 3)
        b = repository.take_versions(s, 1, at=datetime(2020, 1, 1, tzinfo=UTC))  # a clock gone backwards
        c = repository.take_versions(s, 2, at=a.at + timedelta(seconds=1))
    assert (a.first, a.last, b.first, b.last, c.first, c.last) == (1, 3, 4, 4, 5, 6)
    assert b.at == a.at and c.at > b.at
    with session_scope(engine) as s:
        assert repository.observed_seq(s) == 6


def test_a_failed_load_leaves_the_database_untouched(engine: Engine, world_dir: Path, tmp_path: Path,
                                                     world: World) -> None:
    load_world(engine, world_dir)
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("keluarga", "anggota_keluarga", "pkh"):
        (broken / f"{name}.jsonl").write_text("")
    rows = [{**k, "no_kip": f"N{i:05d}"} for i, k in enumerate(world.kip)]
    rows[-1]["tahun"] = 1999
    (broken / "kip.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(LoadFailed) as caught:
        load_world(engine, broken, chunk=10)  # five chunks would have been inserted before the bad line
    assert [(e.line, e.field, e.rule) for e in caught.value.errors] == [(60, "tahun", "greater_than_equal")]
    with session_scope(engine) as s:
        assert s.execute(select(func.count()).select_from(KipRow)).scalar() == len(world.kip)
        assert repository.observed_seq(s) == world.versioned_rows


def test_text_no_database_can_store_is_a_line_error(engine: Engine, tmp_path: Path, world: World) -> None:
    broken = World(keluarga=world.keluarga, anggota_keluarga=[dict(m) for m in world.anggota_keluarga],
                   pkh=world.pkh, kip=world.kip)
    broken.anggota_keluarga[3]["nama"] = "AHMAD\u0000FAUZI"
    with pytest.raises(LoadFailed) as caught:
        load_world(engine, broken.write(tmp_path / "nul"))
    assert [(e.file, e.line, e.field, e.rule) for e in caught.value.errors] == [
        ("anggota_keluarga.jsonl", 4, "nama", "unstorable_text")]
    with session_scope(engine) as s:
        assert repository.observed_seq(s) == 0


def test_migration_0003_fills_the_search_keys_of_existing_members(db_url: str) -> None:
    from sqlalchemy import text

    migrate(MIGRATIONS, db_url, "0002_keluarga_hapus")
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO keluarga (no_kk, kode_wilayah, alamat, dtsen_triwulan, version, created_at, "
                              "updated_at) VALUES (:kk, '3201011001', '', '2026-Q1', 1, :at, :at)"),
                         {"kk": KK1, "at": datetime(2026, 1, 1, tzinfo=UTC)})
            conn.execute(text("INSERT INTO anggota_keluarga (nik, no_kk, nama, jenis_kelamin, tempat_lahir, "
                              "tanggal_lahir, nama_ibu_kandung, hubungan_keluarga) VALUES (:nik, :kk, 'SITI', 'P', '', "
                              ":born, '', 'ANAK')"), {"nik": ANAK1, "kk": KK1, "born": datetime(2012, 5, 7).date()})
        migrate(MIGRATIONS, db_url)
        with engine.connect() as conn:
            row = conn.execute(text("SELECT tahun_lahir, kode_wilayah FROM anggota_keluarga")).one()
        assert tuple(row) == (2012, "3201011001")
    finally:
        engine.dispose()
