"""Object-level access: an operator scoped to one madrasah reads and changes only its students; the hub's
credential writes results; outside its scope a request gets 403 (institution paths) or 404 (students,
requests) and changes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from services.emis_gateway.config import Settings
from services.emis_gateway.loader.service import load_world
from services.emis_gateway.main import MIGRATIONS
from services.emis_gateway.tests.conftest import (
    NSM_A,
    NSM_B,
    OPERATOR_TOKEN,
    AppFactory,
    batch,
    item,
    madrasah,
    siswa,
    write_world,
)
from shared.db import make_engine, migrate

OP_A, OP_B = "operator-a-token-0123456789", "operator-b-token-0123456789"
B_STUDENT = "siswa-0010"


@pytest.fixture
def clients(app_client: AppFactory, sqlite_url: str, tmp_path: Path, token: str) -> dict[str, TestClient]:
    write_world(tmp_path / "world", [madrasah(NSM_A), madrasah(NSM_B, jenjang="MTs")],
                [siswa(i) for i in range(3)] + [siswa(10, NSM_B), siswa(11, NSM_B, nik=siswa(1)["nik"])])
    migrate(MIGRATIONS, sqlite_url)
    engine = make_engine(sqlite_url)
    assert load_world(engine, tmp_path / "world").ok
    engine.dispose()
    hub = app_client(sqlite_url, pkh_worker=False,
                     api_tokens={"sync_hub": token, "operator": OPERATOR_TOKEN, "op_a": OP_A, "op_b": OP_B},
                     api_scopes={"op_a": [NSM_A], "op_b": [NSM_B]})
    hub.headers["Authorization"] = f"Bearer {token}"
    out = {"hub": hub}
    for name, secret in (("a", OP_A), ("b", OP_B), ("all", OPERATOR_TOKEN)):
        out[name] = TestClient(hub.app, headers={"Authorization": f"Bearer {secret}"})
    return out


def test_a_scoped_operator_sees_only_its_madrasah(clients: dict[str, TestClient]) -> None:
    a = clients["a"]
    assert [m["nsm"] for m in a.get("/api/v1/madrasah").json()["items"]] == [NSM_A]
    assert {s["nsm"] for s in a.get("/api/v1/siswa").json()["items"]} == {NSM_A}
    assert len(a.get("/api/v1/siswa", params={"nsm": NSM_A}).json()["items"]) == 3
    assert a.get("/api/v1/siswa/siswa-0001").status_code == 200
    assert a.get(f"/api/v1/madrasah/{NSM_A}/siswa/export").status_code == 200
    # the hub and the all-institutions operator still see everything
    for who in ("hub", "all"):
        assert len(clients[who].get("/api/v1/madrasah").json()["items"]) == 2
        assert len(clients[who].get("/api/v1/siswa").json()["items"]) == 5


OUTSIDE: list[tuple[str, str, dict[str, Any] | None, int]] = [
    ("GET", f"/api/v1/madrasah/{NSM_B}", None, 403),
    ("GET", "/api/v1/siswa?nsm=" + NSM_B, None, 403),
    ("GET", f"/api/v1/siswa/{B_STUDENT}", None, 404),
    ("PUT", f"/api/v1/siswa/{B_STUDENT}/pkh-manual", {"penerima_pkh": True}, 404),
    ("DELETE", f"/api/v1/siswa/{B_STUDENT}/pkh-manual", None, 404),
    ("POST", f"/api/v1/siswa/{B_STUDENT}/pkh-request", None, 404),
    ("POST", f"/api/v1/madrasah/{NSM_B}/pkh-request", None, 403),
    ("GET", f"/api/v1/madrasah/{NSM_B}/sinkron", None, 403),
    ("GET", f"/api/v1/madrasah/{NSM_B}/sinkron/perubahan", None, 403),
    ("GET", f"/api/v1/madrasah/{NSM_B}/data-ganda", None, 403),
    ("GET", f"/api/v1/madrasah/{NSM_B}/siswa/export?format=csv", None, 403),
]


@pytest.mark.parametrize(("method", "path", "body", "status"), OUTSIDE)
def test_outside_its_scope_an_operator_gets_403_or_404_and_changes_nothing(
        clients: dict[str, TestClient], method: str, path: str, body: dict[str, Any] | None, status: int) -> None:
    before = clients["hub"].get(f"/api/v1/siswa/{B_STUDENT}").json()
    r = clients["a"].request(method, path, json=body)
    assert r.status_code == status, r.text
    assert r.json()["error"] == ("Forbidden" if status == 403 else "NotFound")
    assert clients["hub"].get(f"/api/v1/siswa/{B_STUDENT}").json() == before
    assert clients["hub"].get(f"/api/v1/madrasah/{NSM_B}/sinkron").json()["terakhir"] is None


def test_an_import_into_another_madrasah_is_refused(clients: dict[str, TestClient]) -> None:
    exported = clients["b"].get(f"/api/v1/madrasah/{NSM_B}/siswa/export", params={"format": "csv"}).content
    r = clients["a"].post(f"/api/v1/madrasah/{NSM_B}/siswa/import", params={"format": "csv"}, content=exported)
    assert r.status_code == 403 and r.json()["errors"][0]["field"] == "nsm"
    r = clients["a"].post(f"/api/v1/madrasah/{NSM_A}/siswa/import", params={"format": "csv"}, content=exported)
    assert r.status_code == 422  # B's rows into A: every row names another madrasah
    assert len(clients["hub"].get("/api/v1/siswa", params={"nsm": NSM_A}).json()["items"]) == 3


def test_only_the_hub_writes_results(clients: dict[str, TestClient]) -> None:
    body = batch(item("siswa-0001", penerima_pkh=True), item(B_STUDENT, penerima_pkh=True))
    for who in ("a", "b", "all"):
        r = clients[who].post("/api/v1/hub/results", json=body)
        assert r.status_code == 403 and r.json()["errors"][0]["rule"] == "results_writer"
        assert clients[who].post("/api/v1/hub/results", json={"bad": 1}).status_code == 403  # before the body
    assert clients["hub"].get("/api/v1/siswa/siswa-0001").json()["pkh"]["status_pkh"] is None
    r = clients["hub"].post("/api/v1/hub/results", json=body)
    assert [x["status"] for x in r.json()["results"]] == ["APPLIED", "APPLIED"]


def test_a_scoped_operator_changes_its_own_students(clients: dict[str, TestClient]) -> None:
    r = clients["a"].put("/api/v1/siswa/siswa-0001/pkh-manual", json={"penerima_pkh": True})
    assert r.status_code == 200 and r.json()["pkh_manual"]["diisi_oleh"] == "op_a"
    req = clients["b"].post(f"/api/v1/siswa/{B_STUDENT}/pkh-request").json()  # no hub here: PENDING
    assert clients["b"].get(f"/api/v1/pkh-requests/{req['id']}").status_code == 200
    assert clients["a"].get(f"/api/v1/pkh-requests/{req['id']}").status_code == 404
    assert clients["a"].get(f"/api/v1/pkh-requests/{req['id']}/results").status_code == 404
    assert clients["all"].get(f"/api/v1/pkh-requests/{req['id']}").status_code == 200


def test_data_ganda_of_a_scoped_operator_touches_its_madrasah(clients: dict[str, TestClient]) -> None:
    """siswa-0011 (B) has siswa-0001's NIK (A): both operators see the pair, with both records."""
    for who in ("a", "b"):
        [group] = clients[who].get("/api/v1/data-ganda").json()["items"]
        assert [s["siswa_id"] for s in group["siswa"]] == ["siswa-0001", "siswa-0011"]
    other = TestClient(clients["hub"].app, headers={"Authorization": f"Bearer {OP_A}"})
    other.app.state.settings = clients["hub"].app.state.settings.model_copy(  # type: ignore[attr-defined]
        update={"api_scopes": {"op_a": ["131232010009"]}})  # an operator of a third madrasah
    assert other.get("/api/v1/data-ganda").json()["items"] == []


@pytest.mark.parametrize("scopes", [{"x": []}, {"x": ["12345"]}, {"x": ["11123201000A"]}])
def test_a_malformed_scope_is_refused_at_start(scopes: dict[str, list[str]]) -> None:
    with pytest.raises(ValidationError):
        Settings(api_scopes=scopes)
