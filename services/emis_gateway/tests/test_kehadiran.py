"""Attendance (kehadiran_siswa): loaded from the world with the students who left, all-or-nothing with each bad
line named, shown on the student's record and in the hub's feed, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

from services.emis_gateway.loader.service import load_world
from services.emis_gateway.main import MIGRATIONS
from services.emis_gateway.tests.conftest import NSM_A, AppFactory, madrasah, siswa, write_world
from shared.db import make_engine, migrate


def _month(i: int, bulan: int, **over: int) -> dict:
    return {"siswa_id": f"siswa-{i:04d}", "tahun": 2026, "bulan": bulan, "hari_efektif": 20, "sakit": 1, "izin": 0,
            "alpa": 0, **over}


def _world(directory: Path, months: list[dict | str], keluar: list[dict] | None = None) -> Path:
    write_world(directory, [madrasah(NSM_A)], [siswa(i) for i in range(3)])
    (directory / "kehadiran_siswa.jsonl").write_text(
        "".join((m if isinstance(m, str) else json.dumps(m)) + "\n" for m in months), encoding="utf-8")
    if keluar is not None:
        (directory / "siswa_keluar.jsonl").write_text("".join(json.dumps(k) + "\n" for k in keluar), encoding="utf-8")
    return directory


def test_loaded_shown_on_the_record_and_in_the_feed(db_url: str, tmp_path: Path, app_client: AppFactory,
                                                    auth: dict[str, str]) -> None:
    months = [_month(0, 7), _month(0, 8, alpa=4), _month(1, 7)]
    keluar = [{"siswa_id": "siswa-0001", "tanggal_keluar": "2026-07-20", "alasan_keluar": "PUTUS_SEKOLAH"}]
    migrate(MIGRATIONS, db_url)
    engine = make_engine(db_url)
    report = load_world(engine, _world(tmp_path / "w", months, keluar))
    engine.dispose()
    assert report.ok, report.errors
    assert (report.kehadiran, report.keluar) == (3, 1)
    client = app_client(db_url)
    client.headers.update(auth)
    rec = client.get("/api/v1/siswa/siswa-0000").json()
    assert [(m["bulan"], m["persentase_kehadiran"], m["memenuhi_syarat_pkh"]) for m in rec["kehadiran"]] == [
        (7, 95.0, True), (8, 75.0, False)]
    assert rec["kehadiran"][1]["jumlah_tidak_hadir"] == 5 and rec["tanggal_keluar"] is None
    left = client.get("/api/v1/siswa/siswa-0001").json()
    assert (left["status_aktif"], left["tanggal_keluar"], left["alasan_keluar"]) == (False, "2026-07-20",
                                                                                      "PUTUS_SEKOLAH")
    feed = client.get("/api/v1/hub/siswa", params={"limit": 10}).json()
    by_id = {s["siswa_id"]: s for s in feed["items"]}
    assert len(by_id["siswa-0000"]["kehadiran"]) == 2 and by_id["siswa-0002"]["kehadiran"] == []
    # the student who left moved in the feed: a reader resuming before the load sees it again
    assert by_id["siswa-0001"]["status_aktif"] is False


def test_bad_lines_load_nothing_and_are_named(db_url: str, tmp_path: Path) -> None:
    months = [_month(0, 7), _month(0, 7), _month(1, 8, alpa=15, izin=6), _month(2, 9, sakit=-1),
              _month(9, 7), "not json"]
    migrate(MIGRATIONS, db_url)
    engine = make_engine(db_url)
    report = load_world(engine, _world(tmp_path / "w", months))
    engine.dispose()
    assert not report.ok and report.siswa == 0 and report.kehadiran == 0
    found = {(e.line, e.field, e.rule) for e in report.errors}
    assert (2, "bulan", "duplicate") in found
    assert (3, "alpa", "exceeds_hari_efektif") in found
    assert (4, "sakit", "greater_than_equal") in found
    assert (5, "siswa_id", "unknown_siswa") in found
    assert (6, "-", "json_invalid") in found
