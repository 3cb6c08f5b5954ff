"""HTTP conventions at the Dapodik gateway (issue 13 point 7): ``ETag`` / ``If-Match`` on the editable student
record (a stale edit is 412 and changes nothing), ``Idempotency-Key`` on a KIP SK import, RFC 9457 problems."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.dapodik_gateway.tests import factories as f
from services.dapodik_gateway.tests.conftest import AS_OPERATOR
from services.dapodik_gateway.tests.test_kip_sk import counts, issuance, sk


@pytest.fixture
def client(make_client: Callable[..., TestClient], db_url: str) -> TestClient:
    return make_client([f.sekolah(1)], [f.peserta_didik(n, 1) for n in range(1, 4)], url=db_url)


def _patch(client: TestClient, body: dict[str, Any], **headers: str) -> Any:
    return client.patch(f"/api/v1/peserta-didik/{f.uid(1)}", content=json.dumps(body),
                        headers={**AS_OPERATOR, "Content-Type": "application/json", **headers})


def test_a_stale_edit_is_412_and_changes_nothing(client: TestClient) -> None:
    read = client.get(f"/api/v1/peserta-didik/{f.uid(1)}", headers=AS_OPERATOR)
    etag = read.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"')
    assert client.get(f"/api/v1/peserta-didik/{f.uid(1)}", headers=AS_OPERATOR).headers["etag"] == etag  # stable

    first = _patch(client, {"nama": "Nama Pertama"}, **{"If-Match": etag})  # operator A, up to date
    assert first.status_code == 200 and first.headers["etag"] != etag
    assert client.get(f"/api/v1/peserta-didik/{f.uid(1)}", headers=AS_OPERATOR).headers["etag"] == first.headers[
        "etag"]

    stale = _patch(client, {"nama": "Nama Kedua"}, **{"If-Match": etag})  # operator B read before A's edit
    assert stale.status_code == 412 and stale.headers["content-type"] == "application/problem+json"
    problem = stale.json()
    assert problem["type"] == "urn:jembatan:problem:precondition-failed" and problem["status"] == 412
    assert problem["errors"][0]["field"] == "If-Match" and problem["errors"][0]["rule"] == "stale"
    assert client.get(f"/api/v1/peserta-didik/{f.uid(1)}", headers=AS_OPERATOR).json()["nama"] == "Nama Pertama"

    again = _patch(client, {"nama": "Nama Kedua"}, **{"If-Match": first.headers["etag"]})  # re-read, re-applied
    assert again.status_code == 200 and again.json()["nama"] == "Nama Kedua"
    assert _patch(client, {"nama": "Nama Ketiga"}, **{"If-Match": "*"}).status_code == 200
    assert _patch(client, {"nama": "Nama Keempat"}).status_code == 200  # If-Match is optional (documented)


def test_a_repeated_kip_sk_with_the_same_key_answers_the_first_answer(client: TestClient) -> None:
    body = json.dumps(sk(issuance(1, "KIP001"), issuance(2, "KIP002")))
    headers = {"Content-Type": "application/json", "Idempotency-Key": "sk-0001-upload"}
    first = client.post("/api/v1/kip/sk", content=body, headers=headers)
    assert first.status_code == 200, first.text
    after_first = counts(client)
    again = client.post("/api/v1/kip/sk", content=body, headers=headers)
    assert again.status_code == 200 and again.content == first.content
    assert again.headers["idempotent-replayed"] == "true" and counts(client) == after_first
    other = client.post("/api/v1/kip/sk", content=json.dumps(sk(issuance(3, "KIP003"))), headers=headers)
    assert other.status_code == 422 and other.json()["errors"][0]["rule"] == "reused_with_another_request"
    assert counts(client) == after_first


def test_errors_are_rfc9457_problems_that_keep_the_envelope(client: TestClient) -> None:
    r = client.get("/api/v1/peserta-didik/not-a-uuid", headers=AS_OPERATOR)
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert {"type", "title", "status", "detail", "instance", "error", "errors"} <= set(body)
    assert body["instance"] == "/api/v1/peserta-didik/not-a-uuid" and body["error"] == "InvalidInput"
    assert body["errors"][0]["field"] == "peserta_didik_id"
