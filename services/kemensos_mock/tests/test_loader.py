"""The world loader: counts and versions, all-or-nothing, per-line error report, --replace, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from services.kemensos_mock.cli import app as cli
from services.kemensos_mock.config import get_settings
from services.kemensos_mock.kip.models import KipRow
from services.kemensos_mock.main import MIGRATIONS
from services.kemensos_mock.registry.models import AnggotaRow, KeluargaRow, PkhRow
from services.kemensos_mock.registry.repository import observed_seq
from services.kemensos_mock.tests.world import ANAK1, KK1, World, tiny_world
from services.kemensos_mock.world.service import LoadFailed, load_world
from shared.db import make_engine, migrate, session_scope


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    url = f"sqlite:///{tmp_path / 'k.db'}"
    migrate(MIGRATIONS, url)
    engine = make_engine(url)
    yield engine  # type: ignore[misc]
    engine.dispose()


def counts(engine: Engine) -> dict[str, int]:
    with session_scope(engine) as s:
        out = {m.__tablename__: s.execute(select(func.count()).select_from(m)).scalar_one()
               for m in (KeluargaRow, AnggotaRow, PkhRow, KipRow)}
        out["seq"] = observed_seq(s)
    return out


def world_with(tmp_path: Path, mutate=None) -> Path:  # type: ignore[no-untyped-def]
    world = tiny_world()
    if mutate:
        mutate(world)
    return world.write(tmp_path / "world")


def append_line(directory: Path, name: str, line: str) -> int:
    path = directory / f"{name}.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([*lines, line]) + "\n")
    return len(lines) + 1


def test_load_counts_and_versions(engine: Engine, tmp_path: Path, world: World) -> None:
    report = load_world(engine, world_with(tmp_path), chunk=3)  # many small chunks
    assert report.counts == {"keluarga": 4, "anggota_keluarga": 9, "pkh": 5, "kip": 60, "bansos": 0, "kk_history": 0}
    assert (report.first_version, report.last_version) == (1, world.versioned_rows)
    assert counts(engine) == {"keluarga": 4, "anggota_keluarga": 9, "pkh_keanggotaan": 5,
                              "kip_penerbitan": 60, "seq": world.versioned_rows}
    with session_scope(engine) as s:
        versions = list(s.scalars(select(KipRow.version)))
        stamps = set(s.scalars(select(KipRow.updated_at)))
    assert len(set(versions)) == 60  # every row its own version
    assert len(stamps) == 1 and next(iter(stamps)).tzinfo is not None


def _error_keys(failed: LoadFailed) -> list[tuple[str, int, str, str]]:
    return [(e.file, e.line, e.field, e.rule) for e in failed.errors]


def test_one_bad_line_in_the_last_file_writes_nothing(engine: Engine, tmp_path: Path) -> None:
    directory = world_with(tmp_path)
    line = append_line(directory, "kip", json.dumps({"no_kip": "bad", "nama": "X", "tanggal_lahir": "2012-01-01",
                                                     "kode_wilayah": "3201011001", "jenjang": "SD", "tahun": 2025}))
    with pytest.raises(LoadFailed) as caught:
        load_world(engine, directory, chunk=2)
    assert _error_keys(caught.value) == [("kip.jsonl", line, "no_kip", "string_pattern_mismatch")]
    assert counts(engine) == {"keluarga": 0, "anggota_keluarga": 0, "pkh_keanggotaan": 0, "kip_penerbitan": 0,
                              "seq": 0}


def test_every_bad_line_is_reported_by_file_line_field_and_rule(engine: Engine, tmp_path: Path) -> None:
    def break_it(w: World) -> None:
        w.anggota_keluarga[2]["tanggal_lahir"] = "2012-02-30"  # line 3
        w.anggota_keluarga[4]["nik"] = w.anggota_keluarga[0]["nik"]  # line 5: duplicate of line 1
        w.anggota_keluarga[5]["no_kk"] = "3201019999999999"  # line 6: no such family
        w.anggota_keluarga[6]["hobi"] = "x"  # line 7: unknown field
        w.keluarga[1]["desil"] = 11  # line 2
        w.pkh[0]["komponen"] = ["SD", "KULIAH"]  # line 1
        w.kip[3]["no_kip"] = w.kip[0]["no_kip"]  # line 4: duplicate

    directory = world_with(tmp_path, break_it)
    append_line(directory, "pkh", "{not json")  # line 6
    with pytest.raises(LoadFailed) as caught:
        load_world(engine, directory)
    assert _error_keys(caught.value) == [
        ("keluarga.jsonl", 2, "desil", "less_than_equal"),
        ("anggota_keluarga.jsonl", 3, "tanggal_lahir", "date_from_datetime_parsing"),
        ("anggota_keluarga.jsonl", 5, "nik", "duplicate"),
        ("anggota_keluarga.jsonl", 6, "no_kk", "unknown_family"),
        ("anggota_keluarga.jsonl", 7, "hobi", "extra_forbidden"),
        ("pkh.jsonl", 1, "komponen[1]", "enum"),
        ("pkh.jsonl", 6, "(line)", "json_invalid"),
        ("kip.jsonl", 4, "no_kip", "duplicate"),
    ]
    assert caught.value.total == 8
    assert "line 1" in caught.value.errors[2].message
    assert counts(engine)["seq"] == 0


def test_error_messages_never_quote_the_value(engine: Engine, tmp_path: Path) -> None:
    def break_it(w: World) -> None:
        w.anggota_keluarga[1]["nik"] = ANAK1[:15] + "X"

    with pytest.raises(LoadFailed) as caught:
        load_world(engine, world_with(tmp_path, break_it))
    text = "\n".join(str(e) for e in caught.value.errors)
    assert "anggota_keluarga.jsonl:2: nik: string_pattern_mismatch" in text
    assert ANAK1[:15] not in text


def test_error_report_is_capped_but_counts_everything(engine: Engine, tmp_path: Path) -> None:
    def break_it(w: World) -> None:
        for row in w.kip:
            row["jenjang"] = "TK"

    with pytest.raises(LoadFailed) as caught:
        load_world(engine, world_with(tmp_path, break_it), max_reported=5)
    assert len(caught.value.errors) == 5 and caught.value.total == 60


def test_missing_file_is_reported(engine: Engine, tmp_path: Path) -> None:
    directory = world_with(tmp_path)
    (directory / "pkh.jsonl").unlink()
    with pytest.raises(LoadFailed) as caught:
        load_world(engine, directory)
    assert _error_keys(caught.value) == [("pkh.jsonl", 0, "(file)", "missing")]


def test_second_load_needs_replace_and_replace_keeps_versions_growing(engine: Engine, tmp_path: Path,
                                                                      world: World) -> None:
    directory = world_with(tmp_path)
    load_world(engine, directory)
    with pytest.raises(LoadFailed) as caught:
        load_world(engine, directory, chunk=50)
    rules = {(e.file, e.rule) for e in caught.value.errors}
    assert ("keluarga.jsonl", "exists") in rules
    assert counts(engine)["seq"] == world.versioned_rows
    report = load_world(engine, directory, replace=True)
    assert report.first_version == world.versioned_rows + 1  # a version is never handed out twice
    tombstones = len(world.keluarga)  # one per family removed, for the change feed
    assert counts(engine) == {"keluarga": 4, "anggota_keluarga": 9, "pkh_keanggotaan": 5, "kip_penerbitan": 60,
                              "seq": 2 * world.versioned_rows + tombstones}


def test_adding_to_a_loaded_registry_may_refer_to_stored_families(engine: Engine, tmp_path: Path) -> None:
    load_world(engine, world_with(tmp_path))
    extra = World(pkh=[{"no_kk": KK1, "status": "GRADUASI", "komponen": [], "tahun": 2026, "tahap": 3}],
                  anggota_keluarga=[{**tiny_world().anggota_keluarga[0], "nik": "3201011503250001",
                                     "hubungan_keluarga": "CUCU"}])
    report = load_world(engine, extra.write(tmp_path / "extra"))
    assert report.counts["pkh"] == 1 and report.counts["anggota_keluarga"] == 1
    bad = World(pkh=[{"no_kk": "3201019999999999", "status": "AKTIF", "komponen": [], "tahun": 2026, "tahap": 3}])
    with pytest.raises(LoadFailed) as caught:
        load_world(engine, bad.write(tmp_path / "bad"))
    assert _error_keys(caught.value) == [("pkh.jsonl", 1, "no_kk", "unknown_family")]


def test_cli_load_reports_and_exits_1_on_bad_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEMENSOS_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        directory = world_with(tmp_path)
        good = runner.invoke(cli, ["load", str(directory)])
        assert good.exit_code == 0, good.output
        assert "loaded 4 keluarga, 9 anggota_keluarga, 5 pkh, 60 kip" in good.output
        append_line(directory, "anggota_keluarga", "[]")
        bad = runner.invoke(cli, ["load", str(directory), "--replace"])
        assert bad.exit_code == 1
        assert "anggota_keluarga.jsonl:10: (line): model_type" in bad.output
        assert "nothing was written" in bad.output
        again = runner.invoke(cli, ["load", str(world_with(tmp_path / "again")), "--replace"])
        assert again.exit_code == 0, again.output
    finally:
        get_settings.cache_clear()
