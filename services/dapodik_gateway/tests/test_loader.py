"""``load DIR``: every line validated, all-or-nothing, per-line errors (file, line, field, rule); both DBs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from services.dapodik_gateway import db
from services.dapodik_gateway.loader import service as loader
from services.dapodik_gateway.loader.service import LineError, load_world
from services.dapodik_gateway.results import service as results_service
from services.dapodik_gateway.tests import factories as f
from shared.db import session_scope


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    db.migrate(db_url)
    engine = db.make_engine(db_url)
    yield engine
    engine.dispose()


def _counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()
                for t in ("sekolah", "peserta_didik", "field_provenance", "value_history", "field_observation")}


def _write_lines(path: Path, lines: list[Any]) -> None:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines), encoding="utf-8")


def test_a_valid_world_loads(engine: Engine, tmp_path: Path) -> None:
    world = f.write_world(tmp_path, [f.sekolah(1), f.sekolah(2)], [f.peserta_didik(n, 1 + n % 2) for n in range(9)])
    report = load_world(engine, world)
    assert report.ok and (report.sekolah, report.peserta_didik) == (2, 9)
    assert _counts(engine)["peserta_didik"] == 9
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT nama, nik, no_kps, penerima_kps, status_padan, soft_delete FROM "
                                   "peserta_didik WHERE peserta_didik_id = :i"), {"i": f.uid(3)}).one()
    assert row.nama == "Siswa Nomor D" and row.nik == f.peserta_didik(3)["nik"]
    assert row.no_kps is None and not row.penerima_kps and row.status_padan is None and not row.soft_delete


def test_every_bad_line_is_reported_and_nothing_is_written(engine: Engine, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loader, "CHUNK", 4)  # good chunks are inserted before the bad lines are met
    schools = [f.sekolah(1), f.sekolah(2, npsn="123"), f.sekolah(3, sekolah_id=f.uid(1, "sekolah"))]
    students: list[Any] = [f.peserta_didik(n) for n in range(1, 11)]
    students += [
        {k: v for k, v in f.peserta_didik(11).items() if k != "nama"},          # line 11
        f.peserta_didik(12, jenis_kelamin="X"),                                 # line 12
        f.peserta_didik(13, sekolah_n=99),                                      # line 13
        f.peserta_didik(1),                                                     # line 14
        "{not json",                                                            # line 15
        "",                                                                     # line 16 (blank: skipped)
        {**f.peserta_didik(17), "kip_extra": 1},                                # line 17
        f.peserta_didik(18, no_kip="12345678901"),                              # line 18
        f.peserta_didik(19, nama_ayah="Ayah\x00"),                              # line 19
    ]
    f.write_world(tmp_path, [], [])
    _write_lines(tmp_path / "sekolah.jsonl", schools)
    _write_lines(tmp_path / "peserta_didik.jsonl", students)
    report = load_world(engine, tmp_path)
    assert not report.ok and (report.sekolah, report.peserta_didik) == (0, 0)
    got = {(e.file, e.line, e.field, e.rule) for e in report.errors}
    assert got == {
        ("sekolah.jsonl", 2, "npsn", "string_pattern_mismatch"),
        ("sekolah.jsonl", 3, "sekolah_id", "duplicate"),
        ("peserta_didik.jsonl", 11, "nama", "missing"),
        ("peserta_didik.jsonl", 12, "jenis_kelamin", "enum"),
        ("peserta_didik.jsonl", 13, "sekolah_id", "unknown_sekolah"),
        ("peserta_didik.jsonl", 14, "peserta_didik_id", "duplicate"),
        ("peserta_didik.jsonl", 15, "-", "json_invalid"),
        ("peserta_didik.jsonl", 17, "kip_extra", "extra_forbidden"),
        ("peserta_didik.jsonl", 18, "no_kip", "string_too_long"),
        ("peserta_didik.jsonl", 19, "nama_ayah", "nul_character"),
    }
    assert report.error_count == 10
    assert _counts(engine) == dict.fromkeys(_counts(engine), 0)
    # the report never repeats personal data
    text = "\n".join(str(e) for e in report.errors)
    assert f.peserta_didik(1)["nik"] not in text and "Siswa" not in text


def test_error_list_is_capped_but_counted(engine: Engine, tmp_path: Path) -> None:
    f.write_world(tmp_path, [f.sekolah(1)], [f.peserta_didik(n, sekolah_n=2) for n in range(30)])
    report = load_world(engine, tmp_path, max_errors=5)
    assert report.error_count == 30 and len(report.errors) == 5
    assert report.errors[0] == LineError("peserta_didik.jsonl", 1, "sekolah_id", "unknown_sekolah",
                                         report.errors[0].message)


def test_a_missing_file_is_an_error(engine: Engine, tmp_path: Path) -> None:
    f.write_world(tmp_path, [f.sekolah(1)], [])
    (tmp_path / "peserta_didik.jsonl").unlink()
    report = load_world(engine, tmp_path)
    assert [(e.file, e.rule) for e in report.errors] == [("peserta_didik.jsonl", "missing_file")]
    assert _counts(engine)["sekolah"] == 0


def test_loading_twice_needs_replace_and_replace_clears_hub_state(engine: Engine, tmp_path: Path) -> None:
    world = f.write_world(tmp_path / "a", [f.sekolah(1)], [f.peserta_didik(n) for n in range(1, 4)])
    assert load_world(engine, world).ok
    with session_scope(engine) as session:
        results_service.apply_batch(session, f.batch(f.pkh_item(1, 10)), "t")
    assert _counts(engine)["field_provenance"] == 3
    again = load_world(engine, world)
    assert {(e.line, e.field, e.rule) for e in again.errors} == {
        (1, "sekolah_id", "exists"), (1, "peserta_didik_id", "exists"), (2, "peserta_didik_id", "exists"),
        (3, "peserta_didik_id", "exists")}
    assert _counts(engine)["field_provenance"] == 3  # the failed load changed nothing
    replaced = load_world(engine, f.write_world(tmp_path / "b", [f.sekolah(2)], [f.peserta_didik(7, 2)]),
                          replace=True)
    assert replaced.ok
    assert _counts(engine) == {"sekolah": 1, "peserta_didik": 1, "field_provenance": 0, "value_history": 0,
                               "field_observation": 0}


def test_new_students_may_reference_a_school_already_loaded(engine: Engine, tmp_path: Path) -> None:
    assert load_world(engine, f.write_world(tmp_path / "a", [f.sekolah(1)], [f.peserta_didik(1)])).ok
    report = load_world(engine, f.write_world(tmp_path / "b", [], [f.peserta_didik(2), f.peserta_didik(3)]))
    assert report.ok and report.peserta_didik == 2
    assert _counts(engine)["peserta_didik"] == 3


def test_a_byte_order_mark_and_crlf_are_accepted(engine: Engine, tmp_path: Path) -> None:
    f.write_world(tmp_path, [], [])
    (tmp_path / "sekolah.jsonl").write_bytes(b"\xef\xbb\xbf" + json.dumps(f.sekolah(1)).encode() + b"\r\n")
    (tmp_path / "peserta_didik.jsonl").write_bytes(json.dumps(f.peserta_didik(1)).encode() + b"\r\n")
    assert load_world(engine, tmp_path).ok
