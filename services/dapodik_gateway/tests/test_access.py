"""Object-level access: a school operator reads and changes only its school's students; the operator of all
schools reads and changes every school but does not write the hub's results; the hub writes results and
edits no record. A request outside its scope is 403 and changes nothing."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from pydantic import ValidationError

from services.dapodik_gateway.config import Settings
from services.dapodik_gateway.tests import factories as f
from services.dapodik_gateway.tests.conftest import AS_OPERATOR

A, B = f.sekolah(1)["npsn"], f.sekolah(2)["npsn"]
TOKEN_A, TOKEN_B = "school-a-token-0123456789", "school-b-token-0123456789"
AS_A, AS_B = {"Authorization": f"Bearer {TOKEN_A}"}, {"Authorization": f"Bearer {TOKEN_B}"}
IN_A, IN_B = f.uid(1), f.uid(6)  # students 1-5 in A, 6-8 in B
TABLES = ("peserta_didik", "value_history", "field_provenance", "vld_peserta_didik", "kesejahteraan_pd",
          "table_sync_log", "sync_position", "sk_kip", "kip_tidak_cocok")


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client([f.sekolah(1), f.sekolah(2)],
                       [f.peserta_didik(n, 1) for n in range(1, 6)] + [f.peserta_didik(n, 2) for n in range(6, 9)],
                       operators={"op-a": {"token": TOKEN_A, "npsn": A}, "op-b": {"token": TOKEN_B, "npsn": B}})


def snapshot(client: TestClient) -> tuple[dict[str, int], list[Any]]:
    with client.app.state.engine.connect() as conn:  # type: ignore[attr-defined]
        counts = {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES}
        rows = conn.execute(sa.text("SELECT * FROM peserta_didik ORDER BY peserta_didik_id")).all()
    return counts, [tuple(r) for r in rows]


def sk_body(n: int) -> dict[str, Any]:
    return {"sk": {"nomor_sk": f"SK-{n}", "tanggal_sk": "2026-03-01", "sumber": "puslapdik"},
            "items": [{"peserta_didik_id": f.uid(n), "no_kip": "AB12CD", "nm_kip": "SISWA"}]}


def csv_file(pid: str, nama: str) -> bytes:
    return f"ID Peserta Didik,Nama\n{pid},{nama}\n".encode()


# (method, path, body, content type) requests of school B's data, each 403 for school A's operator.
OF_B: list[tuple[str, str, Any, str | None]] = [
    ("GET", f"/api/v1/sekolah/{B}", None, None),
    ("GET", f"/api/v1/peserta-didik?npsn={B}", None, None),
    ("GET", f"/api/v1/peserta-didik/{IN_B}", None, None),
    ("GET", f"/api/v1/peserta-didik/{IN_B}/riwayat", None, None),
    ("GET", f"/api/v1/peserta-didik/{IN_B}/validasi", None, None),
    ("GET", f"/api/v1/peserta-didik/{IN_B}/kesejahteraan", None, None),
    ("GET", f"/api/v1/sekolah/{B}/validasi", None, None),
    ("GET", f"/api/v1/sekolah/{B}/sinkronisasi", None, None),
    ("GET", f"/api/v1/sekolah/{B}/sinkronisasi/keluar", None, None),
    ("GET", f"/api/v1/sekolah/{B}/sinkronisasi/masuk", None, None),
    ("GET", f"/api/v1/sekolah/{B}/peserta-didik/export?format=csv", None, None),
    ("GET", f"/api/v1/kip/unmatched?npsn={B}", None, None),
    ("PATCH", f"/api/v1/peserta-didik/{IN_B}", {"nama": "Diubah"}, "application/json"),
    ("POST", f"/api/v1/sekolah/{B}/peserta-didik/import", csv_file(IN_B, "Diubah"), "text/csv"),
]
# Requests only the hub (or the operator of all schools) may make: 403 for a school operator.
NOT_FOR_SCHOOLS: list[tuple[str, str, Any, str | None]] = [
    ("POST", "/api/v1/hub/results", f.body(f.batch(f.pkh_item(1, 10))), "application/json"),
    ("GET", "/api/v1/hub/peserta-didik", None, None),
    ("GET", f"/api/v1/hub/peserta-didik/{IN_A}", None, None),
    ("POST", "/api/v1/kip/sk", sk_body(1), "application/json"),
]


def call(client: TestClient, method: str, path: str, body: Any, content_type: str | None,
         headers: dict[str, str]) -> Any:
    content = body if isinstance(body, bytes) else (json.dumps(body) if body is not None else None)
    return client.request(method, path, content=content,
                          headers={**headers, **({"Content-Type": content_type} if content_type else {})})


@pytest.mark.parametrize(("method", "path", "body", "content_type"), OF_B)
def test_a_school_operator_cannot_touch_another_school(client: TestClient, method: str, path: str, body: Any,
                                                       content_type: str | None) -> None:
    before = snapshot(client)
    r = call(client, method, path, body, content_type, AS_A)
    assert r.status_code == 403, r.text
    error = r.json()["errors"][0]
    assert error["rule"] == "out_of_scope" and error["field"] in ("npsn", "peserta_didik_id")
    assert snapshot(client) == before
    assert call(client, method, path, body, content_type, AS_B).status_code in (200, 201)  # its own operator may


@pytest.mark.parametrize(("method", "path", "body", "content_type"), NOT_FOR_SCHOOLS)
def test_a_school_operator_does_not_act_as_the_hub(client: TestClient, method: str, path: str, body: Any,
                                                   content_type: str | None) -> None:
    before = snapshot(client)
    r = call(client, method, path, body, content_type, AS_A)
    assert r.status_code == 403 and r.json()["errors"][0]["rule"] == "role", r.text
    assert snapshot(client) == before


def test_a_school_operator_reads_and_changes_its_own_school(client: TestClient) -> None:
    assert [s["npsn"] for s in client.get("/api/v1/sekolah", headers=AS_A).json()["items"]] == [A]
    listed = client.get("/api/v1/peserta-didik", headers=AS_A).json()["items"]
    assert {s["peserta_didik_id"] for s in listed} == {f.uid(n) for n in range(1, 6)}
    assert client.get(f"/api/v1/peserta-didik/{IN_A}", headers=AS_A).status_code == 200
    r = client.patch(f"/api/v1/peserta-didik/{IN_A}", json={"nama": "Nama Baru"}, headers=AS_A)
    assert r.status_code == 200 and r.json()["nama"] == "Nama Baru"
    history = client.get(f"/api/v1/peserta-didik/{IN_A}/riwayat", headers=AS_A).json()
    assert [(h["field"], h["new_value"], h["source"], h["changed_by"]) for h in history] == [
        ("nama", "Nama Baru", "operator", "op-a")]
    r = client.post(f"/api/v1/sekolah/{A}/peserta-didik/import", content=csv_file(f.uid(2), "Dari Berkas"),
                    headers={**AS_A, "Content-Type": "text/csv"})
    assert r.status_code == 200 and r.json()["updated"] == 1
    # a file of its own school naming a student of another is refused row by row, and changes nothing
    before = snapshot(client)
    r = client.post(f"/api/v1/sekolah/{A}/peserta-didik/import", content=csv_file(IN_B, "Diubah"),
                    headers={**AS_A, "Content-Type": "text/csv"})
    assert r.status_code == 422 and r.json()["errors"][0]["rule"] == "not_in_school"
    assert snapshot(client) == before
    assert client.get("/api/v1/kip/unmatched", headers=AS_A).status_code == 200


def test_the_operator_of_all_schools_changes_any_school_but_writes_no_results(client: TestClient) -> None:
    r = client.patch(f"/api/v1/peserta-didik/{IN_B}", json={"nama": "Oleh Dinas"}, headers=AS_OPERATOR)
    assert r.status_code == 200 and r.json()["nama"] == "Oleh Dinas"
    assert len(client.get("/api/v1/sekolah", headers=AS_OPERATOR).json()["items"]) == 2
    assert client.post("/api/v1/kip/sk", json=sk_body(2), headers=AS_OPERATOR).status_code == 200
    before = snapshot(client)
    r = client.post("/api/v1/hub/results", json=f.body(f.batch(f.pkh_item(1, 10))), headers=AS_OPERATOR)
    assert r.status_code == 403 and r.json()["errors"][0]["rule"] == "role"
    assert snapshot(client) == before


def test_the_hub_writes_results_but_edits_no_record(client: TestClient) -> None:
    assert client.post("/api/v1/hub/results", json=f.body(f.batch(f.pkh_item(1, 10)))).status_code == 200
    before = snapshot(client)
    r = client.patch(f"/api/v1/peserta-didik/{IN_A}", json={"nama": "Oleh Hub"})
    assert r.status_code == 403 and r.json()["errors"][0]["rule"] == "role"
    r = client.post(f"/api/v1/sekolah/{A}/peserta-didik/import", content=csv_file(IN_A, "Oleh Hub"),
                    headers={"Content-Type": "text/csv"})
    assert r.status_code == 403
    assert snapshot(client) == before


def test_an_unknown_token_is_401(client: TestClient) -> None:
    r = client.get("/api/v1/sekolah", headers={"Authorization": "Bearer not-a-known-token-at-all"})
    assert r.status_code == 401


def test_scoped_operators_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAPODIK_API_TOKENS", json.dumps({"sync_hub": "h" * 20, "operator": "o" * 20}))
    monkeypatch.setenv("DAPODIK_OPERATORS", json.dumps({"op-sdn1": {"token": "s" * 20, "npsn": "20100001"}}))
    settings = Settings()
    assert settings.operators["op-sdn1"].npsn == "20100001" and set(settings.api_tokens) == {"sync_hub", "operator"}


@pytest.mark.parametrize(("tokens", "operators", "words"), [
    ({}, {"op": {"token": "short", "npsn": "20100001"}}, "placeholder or shorter"),
    ({}, {"op": {"token": "s" * 20, "npsn": "2010"}}, "npsn"),
    ({"op": "o" * 20}, {"op": {"token": "s" * 20, "npsn": "20100001"}}, "both API_TOKENS and OPERATORS"),
    ({"operator": "s" * 20}, {"op": {"token": "s" * 20, "npsn": "20100001"}}, "share one token"),
])
def test_bad_credential_settings_are_refused(tokens: dict[str, str], operators: dict[str, Any], words: str) -> None:
    with pytest.raises(ValidationError) as exc:
        Settings(api_tokens=tokens, operators=operators)  # type: ignore[arg-type]
    assert words in str(exc.value)
