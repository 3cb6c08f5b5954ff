"""``load DIR``: every line validated, errors name file/line/field/rule, all or nothing (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from services.emis_gateway.cli import app as cli
from services.emis_gateway.config import get_settings
from services.emis_gateway.loader.service import LoadReport, load_world
from services.emis_gateway.madrasah.models import MadrasahRow
from services.emis_gateway.main import MIGRATIONS
from services.emis_gateway.results.models import FieldProvenanceRow
from services.emis_gateway.siswa.models import SiswaRow
from services.emis_gateway.tests.conftest import NSM_A, NSM_B, madrasah, siswa, write_world
from shared.db import make_engine, migrate


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    migrate(MIGRATIONS, db_url)
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


def count(engine: Engine, model: type) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(model)).scalar_one())


def where(report: LoadReport) -> set[tuple[str, int, str, str]]:
    return {(e.file, e.line, e.field, e.rule) for e in report.errors}


def test_good_world_loads_every_row(engine: Engine, tmp_path: Path) -> None:
    world = write_world(tmp_path, [madrasah(NSM_A), madrasah(NSM_B)], [siswa(i) for i in range(5)] + [""])
    report = load_world(engine, world, chunk=2)
    assert report.ok, report.errors
    assert (report.madrasah, report.siswa) == (2, 5)
    assert (count(engine, MadrasahRow), count(engine, SiswaRow)) == (2, 5)
    with engine.connect() as conn:
        row = conn.execute(select(SiswaRow).where(SiswaRow.siswa_id == "siswa-0003")).one()
    assert row.nama_ibu_kandung == "Ibu 3" and row.jenis_kelamin == "L" and row.status_pkh is None
    assert row.updated_at.tzinfo is not None and row.last_sync is None


def test_every_bad_line_is_reported_and_nothing_is_written(engine: Engine, tmp_path: Path) -> None:
    good_nik = siswa(1)["nik_ibu"]
    world = write_world(
        tmp_path,
        [madrasah(NSM_A), madrasah("12345", npsn="12345678"), "{broken", madrasah(NSM_A),
         madrasah(NSM_B, jenjang="SMP")],
        [siswa(0),
         siswa(1, tingkat="empat"),
         siswa(2, nsm="999999999999"),
         siswa(3, hobi="bola"),
         siswa(0),
         "[1, 2]",
         {k: v for k, v in siswa(6).items() if k != "nama"},
         siswa(7, jenis_kelamin="X", tanggal_lahir="2014-02-30")],
    )
    report = load_world(engine, world)
    assert not report.ok
    assert where(report) == {
        ("madrasah.jsonl", 2, "nsm", "string_pattern_mismatch"),
        ("madrasah.jsonl", 3, "-", "json_invalid"),
        ("madrasah.jsonl", 4, "nsm", "duplicate"),
        ("madrasah.jsonl", 5, "jenjang", "enum"),
        ("siswa.jsonl", 2, "tingkat", "int_parsing"),
        ("siswa.jsonl", 3, "nsm", "unknown_nsm"),
        ("siswa.jsonl", 4, "hobi", "extra_forbidden"),
        ("siswa.jsonl", 5, "siswa_id", "duplicate"),
        ("siswa.jsonl", 6, "-", "json_object"),
        ("siswa.jsonl", 7, "nama", "missing"),
        ("siswa.jsonl", 8, "jenis_kelamin", "enum"),
        ("siswa.jsonl", 8, "tanggal_lahir", "date_from_datetime_parsing"),
    }
    assert report.error_count == len(report.errors) == 12
    assert (report.madrasah, report.siswa) == (0, 0)
    assert (count(engine, MadrasahRow), count(engine, SiswaRow)) == (0, 0)
    assert good_nik not in "\n".join(str(e) for e in report.errors), "reports never echo personal data"


def test_error_after_chunks_were_inserted_rolls_everything_back(engine: Engine, tmp_path: Path) -> None:
    world = write_world(tmp_path, [madrasah(NSM_A)], [siswa(i) for i in range(9)] + [siswa(9, tingkat=99)])
    report = load_world(engine, world, chunk=2)
    assert where(report) == {("siswa.jsonl", 10, "tingkat", "less_than_equal")}
    assert (count(engine, MadrasahRow), count(engine, SiswaRow)) == (0, 0)


def test_loading_twice_needs_replace(engine: Engine, tmp_path: Path) -> None:
    world = write_world(tmp_path, [madrasah(NSM_A)], [siswa(i) for i in range(3)])
    assert load_world(engine, world).ok
    again = load_world(engine, world)
    assert ("madrasah.jsonl", 1, "nsm", "already_loaded") in where(again)
    assert ("siswa.jsonl", 3, "siswa_id", "already_loaded") in where(again)
    assert count(engine, SiswaRow) == 3

    # New students of an already stored madrasah load without --replace.
    extra = write_world(tmp_path / "extra", [], [siswa(10), siswa(11)])
    assert load_world(engine, extra).ok
    assert count(engine, SiswaRow) == 5

    smaller = write_world(tmp_path / "smaller", [madrasah(NSM_B)], [siswa(0, nsm=NSM_B)])
    report = load_world(engine, smaller, replace=True)
    assert report.ok, report.errors
    assert (count(engine, MadrasahRow), count(engine, SiswaRow)) == (1, 1)


def test_replace_also_clears_hub_results(engine: Engine, tmp_path: Path) -> None:
    from sqlmodel import Session

    from services.emis_gateway.results.service import apply_batch
    from services.emis_gateway.tests.conftest import batch, item
    from shared.contracts.common import HubResultBatch

    world = write_world(tmp_path, [madrasah(NSM_A)], [siswa(0)])
    assert load_world(engine, world).ok
    with Session(engine) as session:
        apply_batch(session, HubResultBatch.model_validate(batch(item("siswa-0000", penerima_pkh=True))))
        session.commit()
    assert count(engine, FieldProvenanceRow) == 3
    assert load_world(engine, world, replace=True).ok
    assert count(engine, FieldProvenanceRow) == 0
    with engine.connect() as conn:
        assert conn.execute(select(SiswaRow.penerima_pkh)).scalar_one() is None


def test_missing_file_is_reported(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "madrasah.jsonl").write_text(json.dumps(madrasah()) + "\n")
    report = load_world(engine, tmp_path)
    assert where(report) == {("siswa.jsonl", 0, "-", "missing_file")}
    assert count(engine, MadrasahRow) == 0


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, sqlite_url: str) -> Iterator[str]:
    monkeypatch.setenv("EMIS_DATABASE_URL", sqlite_url)
    get_settings.cache_clear()
    yield sqlite_url
    get_settings.cache_clear()


def test_cli_load_reports_errors_and_exits_1(cli_env: str, tmp_path: Path) -> None:
    world = write_world(tmp_path / "w", [madrasah(NSM_A)], [siswa(0), siswa(1, tingkat="x")])
    result = CliRunner().invoke(cli, ["load", str(world)])
    assert result.exit_code == 1, result.output
    assert "siswa.jsonl:2: tingkat: int_parsing" in result.stderr
    assert "nothing was written" in result.stderr


def test_cli_migrate_then_load(cli_env: str, tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["migrate"]).exit_code == 0
    world = write_world(tmp_path / "w", [madrasah(NSM_A)], [siswa(0), siswa(1)])
    result = runner.invoke(cli, ["load", str(world)])
    assert result.exit_code == 0, result.output
    assert "loaded 1 madrasah and 2 siswa" in result.stdout
    result = runner.invoke(cli, ["load", "--replace", str(world)])
    assert result.exit_code == 0, result.output
    engine = make_engine(cli_env)
    try:
        assert count(engine, SiswaRow) == 2
    finally:
        engine.dispose()


def test_text_neither_database_can_store_is_a_line_error(engine: Engine, tmp_path: Path) -> None:
    world = write_world(tmp_path, [madrasah(NSM_A)],
                        [siswa(0), siswa(1, nama="Anak\x00Satu"), json.dumps(siswa(2)).replace('"Bogor"', '"\\udc80"')])
    report = load_world(engine, world)
    assert where(report) == {("siswa.jsonl", 2, "nama", "characters"),
                             ("siswa.jsonl", 3, "tempat_lahir", "string_unicode")}
    assert count(engine, SiswaRow) == 0
