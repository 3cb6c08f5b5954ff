"""API basics: open endpoints, bearer auth on every /api route, the family read."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from services.kemensos_mock.tests.conftest import ADMIN_TOKEN, API_TOKEN
from services.kemensos_mock.tests.world import ANAK1, ANAK2, AYAH1, IBU1, KK1, KK3, World

API_CALLS = [
    ("POST", "/api/v1/nik/lookup", {"niks": [ANAK1]}),
    ("GET", "/api/v1/kip", None),
    ("POST", "/api/v1/keluarga/search", {"no_kk": KK1}),
    ("GET", "/api/v1/changes", None),
    ("POST", "/api/v1/identity/search", {"queries": [{"nama": "SITI", "tahun_lahir": 2012, "kode_wilayah": "32"}]}),
    ("PUT", "/api/v1/education-verification", {"items": [{
        "nik_anak": ANAK1, "periode": "2026-T3", "enrolled": True, "active": True, "npsn": "20212345",
        "provenance": {"provenance_id": "p1", "source_system": "DAPODIK", "source_record": "pd-1",
                       "source_version": 1, "observed_seq": 1},
        "observed_at": "2026-08-01T00:00:00Z"}]}),
    ("PUT", "/api/v1/education-verification/item", {
        "nik_anak": ANAK1, "periode": "2026-T3", "enrolled": False, "active": False,
        "provenance": {"provenance_id": "p1", "source_system": "DAPODIK", "source_record": "pd-1",
                       "source_version": 1, "observed_seq": 1},
        "observed_at": "2026-08-01T00:00:00Z"}),
    ("POST", "/api/v1/education-verification/search", {"nik_anak": ANAK1}),
    ("POST", "/api/v1/education-verification/family-commitment", {"periode": "2026-T2", "no_kk": [KK1]}),
    ("GET", "/api/v1/referensi/pkh", None),
]
ADMIN_CALLS = [
    ("PUT", "/api/v1/admin/pkh", {"no_kk": KK1, "status": "GRADUASI", "komponen": [], "tahun": 2026, "tahap": 3}),
    ("PATCH", "/api/v1/admin/keluarga", {"no_kk": KK1, "change": {"desil": 9}}),
    ("PUT", "/api/v1/admin/kip", {"no_kip": "ZZ0001", "nama": "X", "tanggal_lahir": "2012-01-01",
                                  "kode_wilayah": "3201011001", "jenjang": "SD", "tahun": 2025}),
    ("PUT", "/api/v1/admin/anggota", {"nik": ANAK1, "no_kk": KK1, "nama": "X", "jenis_kelamin": "P",
                                      "tanggal_lahir": "2012-05-07", "hubungan_keluarga": "ANAK"}),
    ("DELETE", "/api/v1/admin/anggota", {"nik": ANAK1}),
    ("DELETE", "/api/v1/admin/keluarga", {"no_kk": KK1}),
    ("PUT", "/api/v1/admin/bansos", {"no_kk": KK1, "program": "BPNT", "status": "AKTIF", "tahun": 2026, "tahap": 1}),
    ("POST", "/api/v1/admin/keluarga/pecah", {"no_kk": KK1, "no_kk_baru": "3201010707260077", "anggota": [ANAK2],
                                              "kepala_keluarga": ANAK2}),
    ("GET", "/api/v1/admin/rate-limits", None),
    ("PUT", "/api/v1/admin/rate-limits", {"sync_hub": {"per_second": 1, "burst": 1}}),
    ("GET", "/api/v1/admin/faults", None),
    ("PUT", "/api/v1/admin/faults", {"error_rate": 1.0}),
]


def test_health_is_open(anon: TestClient) -> None:
    response = anon.get("/health")
    assert response.status_code == 200
    assert response.json()["service"] == "kemensos_mock"


def test_docs_and_openapi_are_open_and_document_the_api(anon: TestClient) -> None:
    assert anon.get("/docs").status_code == 200
    spec = anon.get("/openapi.json").json()
    lookup = spec["paths"]["/api/v1/nik/lookup"]["post"]
    assert lookup["summary"] and lookup["description"]
    assert {"401", "422"} <= set(lookup["responses"])
    assert "example" in lookup["responses"]["200"]["content"]["application/json"]
    kip = spec["paths"]["/api/v1/kip"]["get"]
    assert {p["name"] for p in kip["parameters"]} == {"cursor", "limit", "kode_wilayah", "jenjang", "since_version",
                                                   "until_version", "no_kip_after", "no_kip_upto"}
    assert "ApiToken" in spec["components"]["securitySchemes"]


@pytest.mark.parametrize(("method", "path", "body"), API_CALLS + ADMIN_CALLS)
def test_no_credential_is_401(anon: TestClient, method: str, path: str, body: dict | None) -> None:
    response = anon.request(method, path, json=body)
    assert response.status_code == 401
    assert response.json()["error"] == "Unauthorized"
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(("method", "path", "body"), API_CALLS + ADMIN_CALLS)
def test_wrong_credential_is_401(anon: TestClient, method: str, path: str, body: dict | None) -> None:
    response = anon.request(method, path, json=body, headers={"Authorization": "Bearer not-the-right-token-x"})
    assert response.status_code == 401
    response = anon.request(method, path, json=body, headers={"Authorization": f"Basic {API_TOKEN}"})
    assert response.status_code == 401


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_CALLS)
def test_api_token_does_not_open_admin_routes_and_nothing_changes(
    client: TestClient, method: str, path: str, body: dict | None
) -> None:
    before = client.post("/api/v1/keluarga/search", json={"no_kk": KK1}).json()
    seq_before = client.get("/api/v1/kip", params={"limit": 1}).json()["observed_seq"]
    assert client.request(method, path, json=body).status_code == 401
    assert client.post("/api/v1/keluarga/search", json={"no_kk": KK1}).json() == before
    assert client.get("/api/v1/kip", params={"limit": 1}).json()["observed_seq"] == seq_before
    assert client.get("/api/v1/kip", params={"limit": 1}).status_code == 200  # no fault was switched on


def test_admin_token_does_not_open_api_routes(anon: TestClient) -> None:
    response = anon.get("/api/v1/kip", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert response.status_code == 401


def test_admin_routes_are_closed_without_an_admin_token(loaded_url: str) -> None:
    from services.kemensos_mock.config import Settings
    from services.kemensos_mock.main import create_app

    settings = Settings(database_url=loaded_url, api_tokens={"sync_hub": API_TOKEN})
    with TestClient(create_app(settings)) as http:
        for token in (API_TOKEN, ADMIN_TOKEN):
            response = http.patch("/api/v1/admin/keluarga", json={"no_kk": KK1, "change": {"desil": 9}},
                                  headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 401


def test_keluarga_with_members_pkh_history_and_address(client: TestClient, world: World) -> None:
    response = client.post("/api/v1/keluarga/search", json={"no_kk": KK1})
    assert response.status_code == 200
    body = response.json()
    assert body["no_kk"] == KK1
    assert body["alamat"] == "KP. SUKAMAJU RT 01/02"
    assert body["desil"] == 1 and body["no_kks"] == "3201019900000123"
    assert [m["nik"] for m in body["anggota"]] == [AYAH1, IBU1, ANAK1, ANAK2]
    assert body["pkh"] == {"status": "AKTIF", "komponen": ["SD", "SMP"], "periode": "2026 tahap II",
                           "tahun": 2026, "tahap": 2, "penerima": [],
                           "nominal_tahap": (900_000 + 1_500_000) // 4}  # a quarter of SD + SMP a year
    assert [p["periode"] for p in body["pkh_riwayat"]] == ["2026 tahap II", "2026 tahap I", "2025 tahap IV"]
    assert body["no_kk_lama"] == []


def test_keluarga_without_pkh(client: TestClient) -> None:
    body = client.post("/api/v1/keluarga/search", json={"no_kk": KK3}).json()
    assert body["pkh"] is None and body["pkh_riwayat"] == [] and body["desil"] is None


def test_unknown_keluarga_is_404_envelope(client: TestClient) -> None:
    response = client.post("/api/v1/keluarga/search", json={"no_kk": "3201019999999999"})
    assert response.status_code == 404
    body = response.json()
    assert body["error"] == "NotFound"
    assert body["errors"] == [{"field": "no_kk", "rule": "not_found", "message": body["detail"]}]


@pytest.mark.parametrize("bad", ["320101", "32010101012600011", "32O1010101260001"])
def test_malformed_no_kk_is_422(client: TestClient, bad: str) -> None:
    response = client.post("/api/v1/keluarga/search", json={"no_kk": bad})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "no_kk"
    assert response.json()["errors"][0]["rule"] == "string_pattern_mismatch"


def test_unknown_route_is_404_envelope(client: TestClient) -> None:
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"] == "NotFound"


@pytest.mark.parametrize(("body", "field", "rule"), [
    ({"dtsen_triwulan": None}, "change", "not_nullable"),
    ({"desil": 0}, "change.desil", "greater_than_equal"),
    ({"no_kk": "123"}, "change.no_kk", "string_pattern_mismatch"),
    ({"kepala": "x"}, "change.kepala", "extra_forbidden"),
])
def test_bad_family_edit_is_422_and_changes_nothing(admin: TestClient, client: TestClient, body: dict, field: str,
                                                    rule: str) -> None:
    before = client.post("/api/v1/keluarga/search", json={"no_kk": KK1}).json()
    response = admin.patch("/api/v1/admin/keluarga", json={"no_kk": KK1, "change": body})
    assert response.status_code == 422
    (error,) = response.json()["errors"]
    assert error["rule"] == rule and error["field"] in (field, "body")
    assert client.post("/api/v1/keluarga/search", json={"no_kk": KK1}).json() == before


def test_family_edit_clears_nullable_fields_and_takes_a_new_version(admin: TestClient, client: TestClient) -> None:
    before = client.post("/api/v1/keluarga/search", json={"no_kk": KK1}).json()
    response = admin.patch("/api/v1/admin/keluarga",
                           json={"no_kk": KK1, "change": {"desil": None, "no_kks": None, "alamat": "BARU"}})
    assert response.status_code == 200
    after = client.post("/api/v1/keluarga/search", json={"no_kk": KK1}).json()
    assert (after["desil"], after["no_kks"], after["alamat"]) == (None, None, "BARU")
    assert after["version"] > before["version"] and after["dtsen_triwulan"] == before["dtsen_triwulan"]


def test_editing_an_unknown_family_is_404(admin: TestClient) -> None:
    unknown = {"no_kk": "3201019999999999", "change": {"desil": 2}}
    assert admin.patch("/api/v1/admin/keluarga", json=unknown).status_code == 404
    response = admin.put("/api/v1/admin/pkh", json={"no_kk": "3201019999999999", "status": "AKTIF",
                                                    "komponen": [], "tahun": 2026, "tahap": 1})
    assert response.status_code == 404 and response.json()["errors"][0]["field"] == "no_kk"


@pytest.mark.parametrize("text", ["NAMA\u0000X", "NAMA\ud800"])
def test_text_no_database_can_store_is_422_not_500(admin: TestClient, text: str) -> None:
    body = {"no_kip": "ZZ0001", "nama": text, "tanggal_lahir": "2012-01-01", "kode_wilayah": "3201011001",
            "jenjang": "SD", "tahun": 2025}
    response = admin.put("/api/v1/admin/kip", content=json.dumps(body), headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    (error,) = response.json()["errors"]
    assert error["field"] == "nama"
    assert error["rule"] in ("unstorable_text", "string_unicode")  # a lone surrogate may not even parse
    response = admin.patch("/api/v1/admin/keluarga", content=json.dumps({"no_kk": KK1, "change": {"alamat": text}}),
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "change.alamat"
