"""Attendance (kehadiran_pd) and students who left (registrasi_keluar): loaded from the world all-or-nothing
with each bad line named by field and rule, shown on the student's record and in the hub's feed (read set-wise),
on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from services.dapodik_gateway import db
from services.dapodik_gateway.config import Settings
from services.dapodik_gateway.loader.service import LoadReport, load_world
from services.dapodik_gateway.main import create_app
from services.dapodik_gateway.tests import factories as f
from services.dapodik_gateway.tests.conftest import _migrate
from services.dapodik_gateway.tests.test_setwise import statements

FEED = "/api/v1/hub/peserta-didik"


def _month(n: int, bulan: int, **over: int) -> dict[str, Any]:
    return {"peserta_didik_id": f.uid(n), "tahun": 2026, "bulan": bulan, "jml_hari_efektif": 20, "jml_sakit": 1,
            "jml_izin": 0, "jml_tanpa_keterangan": 0, **over}


def _keluar(n: int, jenis: Any = 5, tanggal: str = "2026-07-20") -> dict[str, Any]:
    return {"peserta_didik_id": f.uid(n), "jenis_keluar_id": jenis, "tanggal_keluar": tanggal}


def _lines(path: Path, rows: list[dict[str, Any] | str]) -> None:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")


def _load(url: str, directory: Path, students: list[dict[str, Any]], months: list[dict[str, Any] | str] | None,
          keluar: list[dict[str, Any] | str] | None, schools: list[dict[str, Any]] | None = None) -> LoadReport:
    f.write_world(directory, [f.sekolah(1)] if schools is None else schools, students)
    if months is not None:
        _lines(directory / "kehadiran_pd.jsonl", months)
    if keluar is not None:
        _lines(directory / "registrasi_keluar.jsonl", keluar)
    _migrate(url)
    engine = db.make_engine(url)
    try:
        return load_world(engine, directory)
    finally:
        engine.dispose()


def _count(url: str, table: str, where: str = "") -> int:
    engine = db.make_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(f"SELECT count(*) FROM {table} {where}")).scalar_one()
    finally:
        engine.dispose()


@pytest.fixture
def app(db_url: str, token: str) -> Iterator[Any]:
    def _make() -> TestClient:
        client = TestClient(create_app(Settings(database_url=db_url, api_tokens={"sync_hub": token},
                                                auto_migrate=False)))
        client.__enter__()
        client.headers["Authorization"] = f"Bearer {token}"
        opened.append(client)
        return client

    opened: list[TestClient] = []
    yield _make
    for c in opened:
        c.__exit__(None, None, None)


def test_loaded_shown_on_the_record_and_in_the_feed(db_url: str, tmp_path: Path, app: Any) -> None:
    months: list[dict[str, Any] | str] = [_month(1, 7), _month(1, 8, jml_tanpa_keterangan=4), _month(2, 7),
                                          _month(3, 7), _month(3, 8), _month(3, 9)]
    report = _load(db_url, tmp_path / "w", [f.peserta_didik(n) for n in range(1, 5)], months, [_keluar(2)])
    assert report.ok, report.errors
    assert (report.peserta_didik, report.kehadiran, report.keluar) == (4, 6, 1)
    client = app()
    rec = client.get(f"/api/v1/peserta-didik/{f.uid(1)}").json()
    assert [(m["bulan"], m["jml_tidak_hadir"], m["persen_hadir"], m["memenuhi_85_persen"])
            for m in rec["kehadiran_pd"]] == [(7, 1, 95.0, True), (8, 5, 75.0, False)]
    assert (rec["jenis_keluar_id"], rec["tanggal_keluar"]) == (None, None)
    left = client.get(f"/api/v1/peserta-didik/{f.uid(2)}").json()
    assert (left["jenis_keluar_id"], left["tanggal_keluar"], len(left["kehadiran_pd"])) == (5, "2026-07-20", 1)
    # a student who left stays in the feed (not a tombstone): the hub reports it as no longer enrolled
    page = client.get(FEED, params={"limit": 10, "removed": "true"}).json()
    by_id = {s["peserta_didik_id"]: s for s in page["items"]}
    assert set(by_id) == {f.uid(n) for n in range(1, 5)} and page["removed"] == []
    assert by_id[f.uid(2)]["jenis_keluar_id"] == 5
    assert [m["bulan"] for m in by_id[f.uid(3)]["kehadiran_pd"]] == [7, 8, 9] and by_id[f.uid(4)]["kehadiran_pd"] == []
    assert client.get(f"{FEED}/{f.uid(2)}").json()["tanggal_keluar"] == "2026-07-20"
    # set-wise: a page of one student costs the statements of a page of four
    with statements(client) as one:
        assert len(client.get(FEED, params={"limit": 1}).json()["items"]) == 1
    with statements(client) as four:
        assert len(client.get(FEED, params={"limit": 4}).json()["items"]) == 4
    assert len(one) == len(four)


def test_bad_lines_load_nothing_and_are_named(db_url: str, tmp_path: Path) -> None:
    months: list[dict[str, Any] | str] = [
        _month(1, 7), _month(1, 7), _month(2, 8, jml_tanpa_keterangan=15, jml_izin=6), _month(3, 9, jml_sakit=-1),
        _month(9, 7), "not json", _month(3, 13), _month(1, 8)]
    keluar: list[dict[str, Any] | str] = [_keluar(1), _keluar(1), _keluar(9), _keluar(2, jenis=42),
                                          _keluar(3, tanggal="2026-02-30")]
    report = _load(db_url, tmp_path / "w", [f.peserta_didik(n) for n in range(1, 4)], months, keluar)
    assert not report.ok and (report.peserta_didik, report.kehadiran, report.keluar) == (0, 0, 0)
    found = {(e.file, e.line, e.field, e.rule) for e in report.errors}
    k, r = "kehadiran_pd.jsonl", "registrasi_keluar.jsonl"
    assert {(k, 2, "bulan", "duplicate"), (k, 3, "jml_tanpa_keterangan", "exceeds_hari_efektif"),
            (k, 4, "jml_sakit", "greater_than_equal"), (k, 5, "peserta_didik_id", "unknown_peserta_didik"),
            (k, 6, "-", "json_invalid"), (k, 7, "bulan", "less_than_equal"), (k, 8, "bulan", "after_keluar"),
            (r, 2, "peserta_didik_id", "duplicate"), (r, 3, "peserta_didik_id", "unknown_peserta_didik"),
            (r, 4, "jenis_keluar_id", "enum"), (r, 5, "tanggal_keluar", "date_from_datetime_parsing")} <= found, found
    assert _count(db_url, "peserta_didik") == _count(db_url, "kehadiran_pd") == 0


def test_a_later_load_moves_stored_students_in_the_feed(db_url: str, tmp_path: Path, app: Any) -> None:
    assert _load(db_url, tmp_path / "w1", [f.peserta_didik(n) for n in range(1, 4)], None, None).ok
    client = app()
    first = client.get(FEED, params={"limit": 10}).json()
    assert len(first["items"]) == 3 and all(s["kehadiran_pd"] == [] for s in first["items"])
    # the school reports attendance and a student who left for records already held
    report = _load(db_url, tmp_path / "w2", [], [_month(1, 7), _month(1, 8)], [_keluar(3, jenis=4)], schools=[])
    assert report.ok and (report.kehadiran, report.keluar) == (2, 1), report.errors
    since = client.get(FEED, params={"limit": 10, "since": first["resume_cursor"]}).json()
    assert {s["peserta_didik_id"]: (len(s["kehadiran_pd"]), s["jenis_keluar_id"]) for s in since["items"]} == {
        f.uid(1): (2, None), f.uid(3): (0, 4)}
    # a month already held is not loaded twice; none after the month the student left
    again = _load(db_url, tmp_path / "w3", [], [_month(1, 8), _month(3, 7), _month(3, 8)], None, schools=[])
    assert [(e.line, e.field, e.rule) for e in again.errors] == [(1, "bulan", "exists"), (3, "bulan", "after_keluar")]
    assert _count(db_url, "kehadiran_pd") == 2 and _count(db_url, "peserta_didik", "WHERE jenis_keluar_id = 4") == 1
