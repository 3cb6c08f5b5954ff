"""Data ganda: the same person active in two madrasah, by NIK or else by identity, with both records."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.emis_gateway.ganda.service import detect
from services.emis_gateway.loader.service import load_world
from services.emis_gateway.main import MIGRATIONS
from services.emis_gateway.tests.conftest import NSM_A, NSM_B, AppFactory, madrasah, nik, siswa, write_world
from shared.db import make_engine, migrate
from shared.nik import Sex

NSM_C = "131232010003"
DUP_NIK = nik(7001, Sex.L)
BORN = "2014-01-02"


def students() -> list[dict[str, Any]]:
    spaced = f"{DUP_NIK[:4]} {DUP_NIK[4:8]} {DUP_NIK[8:12]} {DUP_NIK[12:]}"
    return [
        siswa(1, NSM_A, nik=DUP_NIK), siswa(2, NSM_B, nik=spaced),  # same NIK, typed differently
        siswa(3, NSM_A, nama="Muhammad Rizki", nama_ibu_kandung="Siti Aminah", nik=None),
        siswa(4, NSM_B, nama="MOCHAMMAD RIZKI", nama_ibu_kandung="St. Aminah binti Yusuf", nik=nik(7004, Sex.L)),
        siswa(5, NSM_A, nama="Ahmad Fauzi", nama_ibu_kandung="Nur Aini", nik=nik(7005, Sex.L)),  # twins: two NIKs
        siswa(6, NSM_B, nama="Achmad Fauzi", nama_ibu_kandung="Nur Aini", nik=nik(7006, Sex.L)),
        siswa(7, NSM_A, nik="1234567890123456"), siswa(8, NSM_C, nik="1234567890123456"),  # a placeholder
        siswa(9, NSM_A, nik=nik(7009, Sex.L)), siswa(10, NSM_B, nik=nik(7009, Sex.L), status_aktif=False),
        siswa(11, NSM_A, nik=nik(7011, Sex.L)), siswa(12, NSM_A, nik=nik(7011, Sex.L)),  # one madrasah only
    ]


@pytest.fixture
def api(app_client: AppFactory, sqlite_url: str, tmp_path: Path, auth: dict[str, str]) -> TestClient:
    write_world(tmp_path / "world", [madrasah(NSM_A), madrasah(NSM_B, jenjang="MTs"),
                                     madrasah(NSM_C, jenjang="MA")], students())
    migrate(MIGRATIONS, sqlite_url)
    engine = make_engine(sqlite_url)
    assert load_world(engine, tmp_path / "world").ok
    engine.dispose()
    client = app_client(sqlite_url)
    client.headers.update(auth)
    return client


def test_same_nik_or_same_identity_in_two_madrasah_is_reported_with_both_records(api: TestClient) -> None:
    page = api.get("/api/v1/data-ganda").json()
    assert page["next_cursor"] is None
    groups = [(g["dasar"], [s["siswa_id"] for s in g["siswa"]]) for g in page["items"]]
    assert groups == [("NIK", ["siswa-0001", "siswa-0002"]), ("IDENTITAS", ["siswa-0003", "siswa-0004"])]
    by_nik = page["items"][0]
    assert {s["nsm"] for s in by_nik["siswa"]} == {NSM_A, NSM_B}
    assert all("******" in s["nik"] for s in by_nik["siswa"]) and DUP_NIK not in str(page)
    assert by_nik["siswa"][0]["nama_madrasah"] == "MI Nurul Huda 0001" and "2 madrasah" in by_nik["keterangan"]


def test_per_madrasah_lists_the_groups_touching_it(api: TestClient) -> None:
    for nsm, expected in ((NSM_A, 2), (NSM_B, 2), (NSM_C, 0)):
        assert len(api.get(f"/api/v1/madrasah/{nsm}/data-ganda").json()["items"]) == expected
    assert api.get("/api/v1/madrasah/999999999999/data-ganda").status_code == 404


def test_pages_follow_the_cursor(api: TestClient) -> None:
    first = api.get("/api/v1/data-ganda", params={"limit": 1}).json()
    assert len(first["items"]) == 1 and first["next_cursor"]
    second = api.get("/api/v1/data-ganda", params={"limit": 1, "cursor": first["next_cursor"]}).json()
    assert second["items"][0]["dasar"] == "IDENTITAS" and second["next_cursor"] is None
    bad = api.get("/api/v1/data-ganda", params={"cursor": "bm90LWEtY3Vyc29y"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "cursor"


def test_detect_is_pure_and_ignores_inactive_placeholders_twins_and_one_madrasah() -> None:
    rows = [(s["siswa_id"], s["nsm"], s["nik"], s["nama"], date.fromisoformat(s["tanggal_lahir"]),
             s["nama_ibu_kandung"]) for s in students() if s["status_aktif"]]
    assert [g.members for g in detect(rows)] == [("siswa-0001", "siswa-0002"), ("siswa-0003", "siswa-0004")]
    assert detect([]) == []
