"""An operator's edit of a student (PATCH): all or nothing, history kept, validated again (a fix moves a
held-back record in the hub's feed, without its findings), programme rows reconciled, values the hub wrote
protected."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from services.dapodik_gateway.tests import factories as f
from services.dapodik_gateway.tests.conftest import AS_OPERATOR

TABLES = ("value_history", "vld_peserta_didik", "kesejahteraan_pd")


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client([f.sekolah(1)], [f.peserta_didik(1, nik="1234567890123456"), f.peserta_didik(2),
                                        f.peserta_didik(3)])


def patch(client: TestClient, n: int, body: Any) -> Any:
    content = body if isinstance(body, str) else json.dumps(body)
    return client.patch(f"/api/v1/peserta-didik/{f.uid(n)}", content=content,
                        headers={**AS_OPERATOR, "Content-Type": "application/json"})


def state(client: TestClient) -> tuple[Any, ...]:
    with client.app.state.engine.connect() as conn:  # type: ignore[attr-defined]
        counts = tuple(conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES)
        rows = tuple(tuple(r) for r in conn.execute(sa.text("SELECT * FROM peserta_didik ORDER BY 1")).all())
    return counts, rows


def test_fixing_a_held_back_record_sends_it_again_without_its_findings(client: TestClient) -> None:
    first = client.get("/api/v1/hub/peserta-didik").json()
    held = next(s for s in first["items"] if s["peserta_didik_id"] == f.uid(1))
    assert held["status_validasi"] == 2 and [(t["kode"], t["field_error"]) for t in held["temuan_validasi"]] == [
        ("nik_placeholder", "nik")]
    good = f.peserta_didik(1)["nik"]
    r = patch(client, 1, {"nik": good})
    assert r.status_code == 200 and r.json()["nik"] == good and r.json()["status_validasi"] == 0
    assert client.get(f"/api/v1/peserta-didik/{f.uid(1)}/validasi").json()["temuan"] == []
    [fixed] = client.get("/api/v1/hub/peserta-didik", params={"since": first["resume_cursor"]}).json()["items"]
    assert fixed["peserta_didik_id"] == f.uid(1) and fixed["status_validasi"] == 0 and fixed["temuan_validasi"] == []
    history = client.get(f"/api/v1/peserta-didik/{f.uid(1)}/riwayat").json()
    assert [(h["field"], h["old_value"], h["new_value"], h["source"], h["changed_by"]) for h in history] == [
        ("nik", "1234567890123456", good, "operator", "operator")]


def test_a_mistake_holds_a_record_back(client: TestClient) -> None:
    r = patch(client, 2, {"nisn": "12345", "nama_ibu_kandung": ""})
    assert r.status_code == 200 and r.json()["status_validasi"] == 2
    kodes = {t["kode"] for t in client.get(f"/api/v1/peserta-didik/{f.uid(2)}/validasi").json()["temuan"]}
    assert kodes == {"nisn_format", "nama_ibu_kosong"}
    # held back: in the hub's feed with its findings (rule and field, never the value), not left out
    fed = {s["peserta_didik_id"]: s for s in client.get("/api/v1/hub/peserta-didik").json()["items"]}
    assert fed[f.uid(2)]["status_validasi"] == 2
    assert {(t["kode"], t["field_error"], t["status_validasi"]) for t in fed[f.uid(2)]["temuan_validasi"]} == {
        ("nisn_format", "nisn", 2), ("nama_ibu_kosong", "nama_ibu_kandung", 2)}
    assert "12345" not in json.dumps(fed[f.uid(2)]["temuan_validasi"])


def test_an_edit_reconciles_the_programme_rows(client: TestClient) -> None:
    assert patch(client, 3, {"no_kks": "KKS-3"}).status_code == 200
    rows = client.get(f"/api/v1/peserta-didik/{f.uid(3)}/kesejahteraan").json()
    assert [(r["nama_jenis"], r["nomor"], r["asal_data"], r["aktif"]) for r in rows] == [
        ("KKS", "KKS-3", "sekolah", True)]
    assert patch(client, 3, {"no_kks": None}).status_code == 200
    rows = client.get(f"/api/v1/peserta-didik/{f.uid(3)}/kesejahteraan").json()
    assert [(r["nama_jenis"], r["aktif"]) for r in rows] == [("KKS", False)]


def test_an_empty_or_same_edit_writes_nothing(client: TestClient) -> None:
    before = state(client)
    assert patch(client, 2, {}).status_code == 200
    assert patch(client, 2, {"nama": f.peserta_didik(2)["nama"]}).status_code == 200
    assert state(client) == before


def test_values_the_hub_wrote_are_not_changed_by_hand(client: TestClient) -> None:
    client.post("/api/v1/hub/results", json=f.body(f.batch(f.pkh_item(2, 10, no_kps="KKS-2"))))
    before = state(client)
    r = patch(client, 2, {"penerima_kps": False, "no_kps": "LAIN", "nama": "Boleh"})
    assert r.status_code == 422
    assert {(e["field"], e["rule"]) for e in r.json()["errors"]} == {("penerima_kps", "hub_written"),
                                                                     ("no_kps", "hub_written")}
    assert state(client) == before
    assert patch(client, 2, {"penerima_kps": True, "nama": "Boleh"}).status_code == 200  # the same value is fine


@pytest.mark.parametrize(("body", "field", "rule"), [
    ({"kelas": "4A"}, "kelas", "extra_forbidden"),
    ({"jenis_kelamin": "X"}, "jenis_kelamin", "enum"),
    ({"nisn": "1" * 65}, "nisn", "string_too_long"),
    ({"nama": None}, "nama", "string_type"),
    ({"nama": ""}, "nama", "string_too_short"),
    ({"tanggal_lahir": "2014-02-30"}, "tanggal_lahir", "date_from_datetime_parsing"),
    ({"tingkat_pendidikan_id": 14}, "tingkat_pendidikan_id", "less_than_equal"),
    ({"nik": "3201\x0001"}, "nik", "nul_character"),
    ({"penerima_kip": "ya"}, "penerima_kip", "bool_parsing"),
    ("not json", "-", "json_invalid"),
    ([], "-", "model_attributes_type"),
])
def test_a_malformed_edit_is_422_naming_field_and_rule_and_changes_nothing(client: TestClient, body: Any, field: str,
                                                                           rule: str) -> None:
    before = state(client)
    r = patch(client, 2, body)
    assert r.status_code == 422, r.text
    found = {(e["field"], e["rule"]) for e in r.json()["errors"]}
    assert (field, rule) in found or (field == "-" and rule in {x for _, x in found}), found
    assert state(client) == before


def test_an_unknown_or_malformed_student_is_4xx(client: TestClient) -> None:
    r = client.patch(f"/api/v1/peserta-didik/{f.uid(99)}", json={"nama": "X"}, headers=AS_OPERATOR)
    assert r.status_code == 404 and r.json()["errors"][0]["field"] == "peserta_didik_id"
    r = client.patch("/api/v1/peserta-didik/xyz", json={"nama": "X"}, headers=AS_OPERATOR)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "peserta_didik_id"
