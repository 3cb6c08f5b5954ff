"""Reading API: auth, schools, students, paging, and 4xx answers to malformed input."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient

from services.dapodik_gateway.tests import factories as f
from shared.cursor import Cursor

API_GETS = ["/api/v1/sekolah", f"/api/v1/sekolah/{f.sekolah(1)['npsn']}", "/api/v1/peserta-didik",
            f"/api/v1/peserta-didik/{f.uid(1)}", f"/api/v1/peserta-didik/{f.uid(1)}/riwayat"]


def _error_fields(response) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return {(e["field"], e["rule"]) for e in response.json()["errors"]}


# --- authentication -------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", API_GETS)
@pytest.mark.parametrize("header", [None, "Bearer wrong-token-wrong-token", "Basic abc", "Bearer"])
def test_every_api_route_needs_a_valid_bearer_token(client: TestClient, path: str, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    client.headers.pop("Authorization")
    r = client.get(path, headers=headers)
    assert r.status_code == 401
    assert r.json()["error"] == "Unauthorized"
    assert r.headers["www-authenticate"] == "Bearer"


def test_results_need_a_bearer_token_and_change_nothing_without(client: TestClient) -> None:
    good = client.headers.pop("Authorization")
    r = client.post("/api/v1/hub/results", json=f.body(f.batch(f.pkh_item(1, 10))))
    assert r.status_code == 401
    r = client.get(f"/api/v1/peserta-didik/{f.uid(1)}", headers={"Authorization": good})
    assert r.json()["status_padan"] is None and r.json()["provenance"] == []


def test_auth_is_checked_before_input(client: TestClient) -> None:
    client.headers.pop("Authorization")
    assert client.get("/api/v1/peserta-didik?limit=0").status_code == 401


@pytest.mark.parametrize("path", ["/health", "/openapi.json", "/docs"])
def test_health_and_docs_are_open(client: TestClient, path: str) -> None:
    client.headers.pop("Authorization")
    assert client.get(path).status_code == 200


def test_openapi_lists_every_route(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/v1/sekolah", "/api/v1/sekolah/{npsn}", "/api/v1/peserta-didik",
            "/api/v1/peserta-didik/{peserta_didik_id}", "/api/v1/peserta-didik/{peserta_didik_id}/riwayat",
            "/api/v1/hub/results"} <= set(paths)


# --- schools --------------------------------------------------------------------------------------------

def test_sekolah_list_counts_students_and_pages(client: TestClient) -> None:
    first = client.get("/api/v1/sekolah", params={"limit": 1}).json()
    assert len(first["items"]) == 1 and first["next_cursor"]
    second = client.get("/api/v1/sekolah", params={"limit": 1, "cursor": first["next_cursor"]}).json()
    assert second["next_cursor"] is None
    got = {s["npsn"]: s for s in first["items"] + second["items"]}
    assert set(got) == {f.sekolah(1)["npsn"], f.sekolah(2)["npsn"]}
    assert got[f.sekolah(1)["npsn"]]["jumlah_peserta_didik"] == 5
    assert got[f.sekolah(2)["npsn"]]["jumlah_peserta_didik"] == 3
    assert all(s["last_sync"] is None for s in got.values())


def test_sekolah_by_npsn_and_last_sync_after_a_hub_write(client: TestClient) -> None:
    npsn = f.sekolah(1)["npsn"]
    before = client.get(f"/api/v1/sekolah/{npsn}").json()
    assert before == {**f.sekolah(1), "jumlah_peserta_didik": 5, "last_sync": None}
    client.post("/api/v1/hub/results", json=f.body(f.batch(f.pkh_item(2, 10))))
    after = client.get(f"/api/v1/sekolah/{npsn}").json()
    assert after["last_sync"] is not None
    assert client.get(f"/api/v1/sekolah/{f.sekolah(2)['npsn']}").json()["last_sync"] is None


def test_unknown_npsn_is_a_404_envelope(client: TestClient) -> None:
    r = client.get("/api/v1/sekolah/99999999")
    assert r.status_code == 404
    assert r.json()["error"] == "NotFound" and _error_fields(r) == {("npsn", "not_found")}


# --- students -------------------------------------------------------------------------------------------

def test_student_read_model_holds_the_record_and_empty_hub_state(client: TestClient) -> None:
    r = client.get(f"/api/v1/peserta-didik/{f.uid(3)}")
    assert r.status_code == 200
    body = r.json()
    record = f.peserta_didik(3, 1)
    assert {k: body[k] for k in record} == record
    assert body["nama_wali"] == "" and body["nik_wali"] is None and body["no_kps"] is None
    assert body["status_padan"] is None and body["keterangan_padan"] is None
    assert body["last_sync"] is None and body["provenance"] == []
    assert body["last_update"].endswith("Z") or body["last_update"].endswith("+00:00")


def test_unknown_student_is_a_404_envelope(client: TestClient) -> None:
    for path in (f"/api/v1/peserta-didik/{f.uid(999)}", f"/api/v1/peserta-didik/{f.uid(999)}/riwayat"):
        r = client.get(path)
        assert r.status_code == 404
        assert r.json()["error"] == "NotFound" and _error_fields(r) == {("peserta_didik_id", "not_found")}


def test_npsn_filter_lists_one_school(client: TestClient) -> None:
    r = client.get("/api/v1/peserta-didik", params={"npsn": f.sekolah(2)["npsn"]})
    assert {s["peserta_didik_id"] for s in r.json()["items"]} == {f.uid(n) for n in (6, 7, 8)}
    r = client.get("/api/v1/peserta-didik", params={"npsn": "99999999"})
    assert r.status_code == 404 and _error_fields(r) == {("npsn", "not_found")}


def test_paging_returns_every_student_exactly_once_when_all_timestamps_are_equal(
        make_client: Callable[..., TestClient]) -> None:
    # The loader gives one batch the same last_update, so every row shares one timestamp.
    client = make_client([f.sekolah(1)], [f.peserta_didik(n) for n in range(1, 48)])
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"limit": 5}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/api/v1/peserta-didik", params=params).json()
        pages += 1
        seen += [s["peserta_didik_id"] for s in page["items"]]
        stamps = {s["last_update"] for s in page["items"]}
        assert len(stamps) <= 1
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert pages == 10
    assert len(seen) == len(set(seen)) == 47
    assert set(seen) == {f.uid(n) for n in range(1, 48)}


def test_hub_writes_do_not_move_students_in_the_change_feed(client: TestClient) -> None:
    before = client.get("/api/v1/peserta-didik").json()["items"]
    client.post("/api/v1/hub/results", json=f.body(f.batch(f.pkh_item(4, 10), f.kip_item(4, 11, "K4K4K4"))))
    after = client.get("/api/v1/peserta-didik").json()["items"]
    assert [s["peserta_didik_id"] for s in after] == [s["peserta_didik_id"] for s in before]
    assert [s["last_update"] for s in after] == [s["last_update"] for s in before]
    changed = next(s for s in after if s["peserta_didik_id"] == f.uid(4))
    assert changed["last_sync"] is not None and changed["no_kip"] == "K4K4K4"


def test_default_page_holds_everything_small(client: TestClient) -> None:
    page = client.get("/api/v1/peserta-didik").json()
    assert len(page["items"]) == 8 and page["next_cursor"] is None


# --- malformed input ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("params", "field", "rule"), [
    ({"limit": 0}, "limit", "greater_than_equal"),
    ({"limit": 1001}, "limit", "less_than_equal"),
    ({"limit": "many"}, "limit", "int_parsing"),
    ({"cursor": "not-a-cursor"}, "cursor", "opaque_cursor"),
    ({"cursor": Cursor(datetime(2026, 1, 1), f.uid(1)).encode()}, "cursor", "opaque_cursor"),  # naive time
    ({"cursor": Cursor(datetime(2026, 1, 1, tzinfo=UTC), "x\x00y").encode()}, "cursor", "opaque_cursor"),
    ({"cursor": Cursor(datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5))), f.uid(1)).encode()}, "cursor",
     "opaque_cursor"),
    ({"cursor": "WyJ4Il0"}, "cursor", "opaque_cursor"),  # valid base64 JSON, wrong shape
    ({"npsn": "123"}, "npsn", "string_pattern_mismatch"),
    ({"npns": "20100001"}, "npns", "unknown_parameter"),
])
def test_malformed_list_parameters_are_422_naming_field_and_rule(client: TestClient, params: dict[str, object],
                                                                 field: str, rule: str) -> None:
    r = client.get("/api/v1/peserta-didik", params=params)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "InvalidInput"
    assert (field, rule) in _error_fields(r)


@pytest.mark.parametrize("path", ["/api/v1/peserta-didik/not-a-uuid", "/api/v1/peserta-didik/not-a-uuid/riwayat",
                                  "/api/v1/sekolah/abc", "/api/v1/sekolah/123456789"])
def test_malformed_path_ids_are_422(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 422
    assert {e["rule"] for e in r.json()["errors"]} == {"string_pattern_mismatch"}


def test_sekolah_list_rejects_bad_cursor_and_limit(client: TestClient) -> None:
    assert ("cursor", "opaque_cursor") in _error_fields(client.get("/api/v1/sekolah", params={"cursor": "zz"}))
    assert ("limit", "less_than_equal") in _error_fields(client.get("/api/v1/sekolah", params={"limit": 5000}))


# --- personal data in logs ------------------------------------------------------------------------------

def test_no_nik_or_name_reaches_the_log(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    client.get("/api/v1/peserta-didik")
    client.get(f"/api/v1/peserta-didik/{f.uid(1)}")
    client.post("/api/v1/hub/results", json=f.body(f.batch(f.pkh_item(1, 10), f.pkh_item(999, 1))))
    client.get(f"/api/v1/peserta-didik/{f.uid(1)}/riwayat")
    assert "hub batch" in caplog.text  # the log was captured
    record = f.peserta_didik(1)
    for secret in (record["nik"], record["no_kk"], record["nik_ibu"], record["nik_ayah"], record["nama"],
                   record["nama_ibu_kandung"]):
        assert secret not in caplog.text
