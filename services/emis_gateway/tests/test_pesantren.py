"""Pesantren (NSPP) and their santri: loaded, listed, synced and scoped like madrasah and siswa."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.emis_gateway.loader.service import load_world
from services.emis_gateway.main import MIGRATIONS
from services.emis_gateway.tests.conftest import (
    NSM_A,
    NSM_B,
    AppFactory,
    batch,
    item,
    madrasah,
    siswa,
    write_world,
)
from shared.clients import EmisClient
from shared.db import make_engine, migrate

NSPP = "510032010001"
OP_P = "operator-pesantren-0123456789"


def santri(i: int, **over: Any) -> dict[str, Any]:
    rec = siswa(i, nama=f"Santri {i}", **over)
    rec.pop("nsm")
    return {**rec, "nspp": NSPP}


def world(directory: Path, santri_rows: list[dict[str, Any] | str] | None = None,
          pesantren: list[dict[str, Any]] | None = None) -> Path:
    write_world(directory, [madrasah(NSM_A), madrasah(NSM_B, jenjang="MTs")], [siswa(i) for i in range(2)])
    rows = pesantren if pesantren is not None else [
        {"nspp": NSPP, "nama": "PP Al-Hikmah", "status": "SWASTA", "kode_wilayah": "3201010001"}]
    (directory / "pesantren.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    lines = santri_rows if santri_rows is not None else [santri(20), santri(21)]
    (directory / "santri.jsonl").write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n"
                                                    for r in lines))
    return directory


@pytest.fixture
def api(app_client: AppFactory, sqlite_url: str, tmp_path: Path, token: str) -> TestClient:
    migrate(MIGRATIONS, sqlite_url)
    engine = make_engine(sqlite_url)
    report = load_world(engine, world(tmp_path / "world"))
    engine.dispose()
    assert report.ok and (report.madrasah, report.siswa, report.pesantren, report.santri) == (2, 2, 1, 2)
    client = app_client(sqlite_url, pkh_worker=False, api_tokens={"sync_hub": token, "op_p": OP_P},
                        api_scopes={"op_p": [NSPP]})
    client.headers["Authorization"] = f"Bearer {token}"
    return client


def test_pesantren_are_listed_apart_from_madrasah(api: TestClient) -> None:
    [p] = api.get("/api/v1/pesantren").json()["items"]
    assert (p["nspp"], p["nama"], p["npsn"], p["jumlah_santri"], p["last_sync"]) == (
        NSPP, "PP Al-Hikmah", None, 2, None)
    assert api.get(f"/api/v1/pesantren/{NSPP}").json() == p
    assert {m["nsm"] for m in api.get("/api/v1/madrasah").json()["items"]} == {NSM_A, NSM_B}
    assert api.get(f"/api/v1/madrasah/{NSPP}").status_code == 404
    assert api.get(f"/api/v1/pesantren/{NSM_A}").status_code == 404
    assert api.get("/api/v1/pesantren/51003").status_code == 422


def test_santri_are_students_of_their_nspp_and_sync_like_them(api: TestClient) -> None:
    feed = {s["siswa_id"]: s for s in api.get("/api/v1/siswa").json()["items"]}
    assert feed["siswa-0020"]["nspp"] == NSPP and feed["siswa-0020"]["nsm"] == NSPP
    assert feed["siswa-0000"]["nspp"] is None
    assert {s["siswa_id"] for s in api.get("/api/v1/siswa", params={"nsm": NSPP}).json()["items"]} == {
        "siswa-0020", "siswa-0021"}
    r = api.post("/api/v1/hub/results", json=batch(item("siswa-0020", penerima_pkh=True), run="run-p"))
    assert r.json()["results"][0]["status"] == "APPLIED"
    p = api.get(f"/api/v1/pesantren/{NSPP}").json()
    assert p["last_sync"] is not None and p["sinkron_terakhir"]["sync_run_id"] == "run-p"
    assert api.get(f"/api/v1/madrasah/{NSPP}/sinkron").json()["terakhir"]["diubah"] == 1
    exported = api.get(f"/api/v1/madrasah/{NSPP}/siswa/export", params={"format": "csv"})
    assert exported.status_code == 200 and exported.text.count("Santri 2") == 2


def test_an_operator_scoped_to_an_nspp_sees_only_its_santri(api: TestClient) -> None:
    op = TestClient(api.app, headers={"Authorization": f"Bearer {OP_P}"})
    assert [p["nspp"] for p in op.get("/api/v1/pesantren").json()["items"]] == [NSPP]
    assert op.get("/api/v1/madrasah").json()["items"] == []
    assert {s["siswa_id"] for s in op.get("/api/v1/siswa").json()["items"]} == {"siswa-0020", "siswa-0021"}
    assert op.get("/api/v1/siswa/siswa-0000").status_code == 404
    assert op.get(f"/api/v1/madrasah/{NSM_A}/sinkron").status_code == 403
    assert op.put("/api/v1/siswa/siswa-0021/pkh-manual", json={"no_kks": "KKS-9"}).status_code == 200


@pytest.mark.parametrize(("santri_rows", "pesantren", "field", "rule"), [
    ([{**santri(20), "nspp": "510032019999"}], None, "nspp", "unknown_nspp"),
    ([{**santri(20), "nsm": NSM_A}], None, "nsm", "none_required"),  # not nsm: only nspp
    (None, [{"nspp": NSM_A, "nama": "PP", "kode_wilayah": "3201010001"}], "nspp", "already_loaded"),
    (None, [{"nspp": "5100", "nama": "PP", "kode_wilayah": "3201010001"}], "nspp", "string_pattern_mismatch"),
])
def test_bad_pesantren_or_santri_lines_load_nothing(sqlite_url: str, tmp_path: Path, santri_rows: Any,
                                                    pesantren: Any, field: str, rule: str) -> None:
    migrate(MIGRATIONS, sqlite_url)
    engine = make_engine(sqlite_url)
    try:
        report = load_world(engine, world(tmp_path / "world", santri_rows, pesantren))
    finally:
        engine.dispose()
    assert not report.ok and (report.madrasah, report.santri) == (0, 0)
    assert (field, rule) in {(e.field, e.rule) for e in report.errors}, report.errors


def test_the_typed_client_reads_pesantren(api: TestClient) -> None:
    client = EmisClient("http://testserver", api.headers["Authorization"].split()[1],
                        http=TestClient(api.app))
    [p] = client.list_pesantren().items
    assert p.nspp == NSPP and p.jumlah_santri == 2 and client.get_pesantren(NSPP) == p
    santri_ids = {s.siswa_id for s in client.iter_students() if s.nspp == NSPP}
    assert santri_ids == {"siswa-0020", "siswa-0021"}
