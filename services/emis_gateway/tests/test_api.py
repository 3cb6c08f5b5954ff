"""HTTP behaviour of the gateway: auth, read models, malformed input."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from services.emis_gateway.tests.conftest import NSM_A, NSM_B, batch, item

API_ROUTES = [
    ("GET", "/api/v1/madrasah"),
    ("GET", f"/api/v1/madrasah/{NSM_A}"),
    ("GET", "/api/v1/siswa"),
    ("GET", "/api/v1/siswa/siswa-0000"),
    ("POST", "/api/v1/hub/results"),
]


@pytest.mark.parametrize(("method", "path"), API_ROUTES)
@pytest.mark.parametrize("header", [None, "Bearer wrong-token-wrong-token", "Basic abc", "Bearer "])
def test_every_api_route_needs_a_valid_bearer_token(api: TestClient, method: str, path: str,
                                                    header: str | None) -> None:
    headers = {"Authorization": header} if header is not None else {}
    api.headers.pop("Authorization")
    r = api.request(method, path, headers=headers, json=batch(item("siswa-0000")) if method == "POST" else None)
    assert r.status_code == 401
    assert r.json()["error"] == "Unauthorized"
    assert r.headers["www-authenticate"] == "Bearer"


def test_unauthenticated_post_changes_nothing(api: TestClient, auth: dict[str, str]) -> None:
    token = api.headers.pop("Authorization")
    api.post("/api/v1/hub/results", json=batch(item("siswa-0000")))
    api.headers["Authorization"] = token
    assert api.get("/api/v1/siswa/siswa-0000").json()["pkh"]["status_pkh"] is None


@pytest.mark.parametrize("path", ["/health", "/openapi.json", "/docs"])
def test_health_and_docs_are_open(api: TestClient, path: str) -> None:
    api.headers.pop("Authorization")
    assert api.get(path).status_code == 200


def test_madrasah_list_counts_students_and_last_sync(api: TestClient) -> None:
    page = api.get("/api/v1/madrasah").json()
    by_nsm = {m["nsm"]: m for m in page["items"]}
    assert set(by_nsm) == {NSM_A, NSM_B}
    assert by_nsm[NSM_A]["jumlah_siswa"] == 3
    assert by_nsm[NSM_B]["jumlah_siswa"] == 0
    assert by_nsm[NSM_A]["last_sync"] is None
    assert by_nsm[NSM_B]["jenjang"] == "MTs"
    assert page["next_cursor"] is None

    api.post("/api/v1/hub/results", json=batch(item("siswa-0001", penerima_pkh=True)))
    one = api.get(f"/api/v1/madrasah/{NSM_A}").json()
    assert one["last_sync"] == api.get("/api/v1/siswa/siswa-0001").json()["pkh"]["tanggal_sinkron"]
    assert api.get(f"/api/v1/madrasah/{NSM_B}").json()["last_sync"] is None


def test_madrasah_paging(api: TestClient) -> None:
    first = api.get("/api/v1/madrasah", params={"limit": 1}).json()
    assert len(first["items"]) == 1 and first["next_cursor"]
    second = api.get("/api/v1/madrasah", params={"limit": 1, "cursor": first["next_cursor"]}).json()
    assert second["next_cursor"] is None
    assert {first["items"][0]["nsm"], second["items"][0]["nsm"]} == {NSM_A, NSM_B}


def test_unknown_madrasah_and_siswa_are_404_envelopes(api: TestClient) -> None:
    r = api.get("/api/v1/madrasah/999999999999")
    assert r.status_code == 404
    assert r.json()["error"] == "NotFound"
    assert r.json()["errors"][0]["field"] == "nsm"
    r = api.get("/api/v1/siswa/no-such-student")
    assert r.status_code == 404
    assert r.json()["error"] == "NotFound"
    assert r.json()["errors"][0]["field"] == "siswa_id"


def test_siswa_read_model_before_any_sync(api: TestClient) -> None:
    body = api.get("/api/v1/siswa/siswa-0002").json()
    assert body["siswa_id"] == "siswa-0002"
    assert body["nsm"] == NSM_A
    assert body["nama_ibu_kandung"] == "Ibu 2"
    assert body["pkh"] == {"status_pkh": None, "keterangan_pkh": None, "penerima_pkh": None, "periode_pkh": None,
                           "no_kks": None, "sumber": None, "tanggal_sinkron": None}
    assert body["provenance"] == []
    assert body["updated_at"].endswith("Z") or body["updated_at"].endswith("+00:00")


def test_siswa_list_filters_by_nsm(api: TestClient) -> None:
    assert len(api.get("/api/v1/siswa", params={"nsm": NSM_A}).json()["items"]) == 3
    assert api.get("/api/v1/siswa", params={"nsm": NSM_B}).json()["items"] == []


@pytest.mark.parametrize(("path", "params", "field", "rule"), [
    ("/api/v1/siswa", {"limit": 0}, "limit", "greater_than_equal"),
    ("/api/v1/siswa", {"limit": 1001}, "limit", "less_than_equal"),
    ("/api/v1/siswa", {"limit": "ten"}, "limit", "int_parsing"),
    ("/api/v1/siswa", {"cursor": "not-a-cursor"}, "cursor", "opaque_cursor"),
    ("/api/v1/siswa", {"cursor": "WyJ4Il0"}, "cursor", "opaque_cursor"),  # base64 of ["x"]
    ("/api/v1/siswa", {"nsm": "12345"}, "nsm", "string_pattern_mismatch"),
    ("/api/v1/siswa", {"limt": 5}, "limt", "extra_forbidden"),
    ("/api/v1/madrasah", {"limit": -1}, "limit", "greater_than_equal"),
    ("/api/v1/madrasah", {"cursor": "%%%"}, "cursor", "opaque_cursor"),
    ("/api/v1/madrasah", {"page": 2}, "page", "extra_forbidden"),
    ("/api/v1/madrasah/12ab", {}, "nsm", "string_pattern_mismatch"),
    ("/api/v1/siswa/" + "x" * 65, {}, "siswa_id", "string_too_long"),
])
def test_malformed_queries_name_field_and_rule(api: TestClient, path: str, params: dict[str, object],
                                               field: str, rule: str) -> None:
    r = api.get(path, params=params)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == "InvalidInput"
    assert {"field": field, "rule": rule} in [{"field": e["field"], "rule": e["rule"]} for e in body["errors"]]


@pytest.mark.parametrize(("mutate", "field", "rule"), [
    (lambda b: b.update(extra=1), "extra", "extra_forbidden"),
    (lambda b: b.pop("sync_run_id"), "sync_run_id", "missing"),
    (lambda b: b.update(items=[]), "items", "too_short"),
    (lambda b: b["items"][0].update(outcome="MAYBE"), "items[0].outcome", "enum"),
    (lambda b: b["items"][0].update(colour="red"), "items[0].colour", "extra_forbidden"),
    (lambda b: b["items"][0]["provenance"].update(observed_seq=-1), "items[0].provenance.observed_seq",
     "greater_than_equal"),
    (lambda b: b["items"][0]["provenance"].update(matched_by="dukun"), "items[0].provenance.matched_by", "enum"),
    (lambda b: b["items"][0]["provenance"].pop("retrieved_at"), "items[0].provenance.retrieved_at", "missing"),
    (lambda b: b["items"][0].update(values={"penerima_pkh": [1]}), "items[0].values.penerima_pkh", None),
    (lambda b: b["items"][0].update(student_id="x" * 65), "items[0].student_id", "string_too_long"),
])
def test_malformed_batches_are_rejected_whole_and_change_nothing(api: TestClient, mutate, field: str,
                                                                rule: str | None) -> None:
    body = batch(item("siswa-0000", penerima_pkh=True), item("siswa-0001", penerima_pkh=True))
    mutate(body)
    r = api.post("/api/v1/hub/results", json=body)
    assert r.status_code == 422, r.text
    errors = r.json()["errors"]
    assert any(e["field"].startswith(field) and (rule is None or e["rule"] == rule) for e in errors), errors
    for sid in ("siswa-0000", "siswa-0001"):
        student = api.get(f"/api/v1/siswa/{sid}").json()
        assert student["pkh"]["penerima_pkh"] is None and student["provenance"] == []


def test_body_that_is_not_json_is_422(api: TestClient) -> None:
    r = api.post("/api/v1/hub/results", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert r.json()["error"] == "InvalidInput"
