"""No error body repeats a NIK or KK number a caller sent (issue "Trust", part 4): every route taking one is
sent an unknown one and malformed ones; whatever it answers with a 4xx never holds the 16 digits."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.kemensos_mock.tests.conftest import ADMIN_TOKEN, API_TOKEN
from services.kemensos_mock.tests.test_api import ADMIN_CALLS, API_CALLS
from services.kemensos_mock.tests.world import KK1
from shared.testing import NIK_PROBE, NIK_PROBE_VARIANTS, path_probes, with_digits16

# Every documented call whose body holds a NIK or KK number (16-digit strings), for each probe variant.
TAKING_ONE = [(m, p, b) for m, p, b in API_CALLS + ADMIN_CALLS if b is not None and with_digits16(b, "") != b]
# Answers that carry the caller's own identifier back by contract (a lookup answers each NIK asked, in order):
# not errors, so only their malformed variants are checked.
ANSWERS_ECHO = {"/api/v1/nik/lookup", "/api/v1/education-verification", "/api/v1/education-verification/item",
                "/api/v1/education-verification/search", "/api/v1/education-verification/family-commitment"}


def send(app: FastAPI, method: str, path: str, body: Any) -> Any:
    token = ADMIN_TOKEN if path.startswith("/api/v1/admin") else API_TOKEN
    return TestClient(app, headers={"Authorization": f"Bearer {token}"}).request(method, path, json=body)


def test_the_sweep_covers_the_routes_taking_a_nik_or_kk() -> None:
    paths = {p for _, p, _ in TAKING_ONE}
    assert {"/api/v1/keluarga/search", "/api/v1/admin/anggota", "/api/v1/admin/keluarga",
            "/api/v1/admin/keluarga/pecah", "/api/v1/nik/lookup", "/api/v1/education-verification/search"} <= paths


@pytest.mark.parametrize("probe", NIK_PROBE_VARIANTS)
@pytest.mark.parametrize(("method", "path", "body"), TAKING_ONE, ids=lambda v: v if isinstance(v, str) else "")
def test_no_error_body_repeats_the_nik_sent(app: FastAPI, method: str, path: str, body: Any, probe: str) -> None:
    response = send(app, method, path, with_digits16(body, probe))
    if probe == NIK_PROBE and path in ANSWERS_ECHO:
        assert response.status_code < 500
        return
    assert 400 <= response.status_code < 500, response.text
    assert NIK_PROBE not in response.text


def test_an_unknown_family_or_member_is_a_404_without_the_number(app: FastAPI) -> None:
    for method, path, body in [("POST", "/api/v1/keluarga/search", {"no_kk": NIK_PROBE}),
                               ("DELETE", "/api/v1/admin/anggota", {"nik": NIK_PROBE}),
                               ("DELETE", "/api/v1/admin/keluarga", {"no_kk": NIK_PROBE})]:
        response = send(app, method, path, body)
        assert response.status_code == 404 and NIK_PROBE not in response.text, response.text
        assert response.json()["errors"][0]["field"] in ("no_kk", "nik")


def test_a_nik_as_an_unknown_field_name_or_in_a_path_is_not_repeated(app: FastAPI) -> None:
    response = send(app, "POST", "/api/v1/keluarga/search", {"no_kk": KK1, NIK_PROBE: "x"})
    assert response.status_code == 422 and response.json()["errors"][0]["rule"] == "extra_forbidden"
    assert NIK_PROBE not in response.text and NIK_PROBE[:6] in response.text  # named, masked
    client = TestClient(app, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    for method, url in [*path_probes(app.openapi()), ("GET", f"/api/v1/anggota/{NIK_PROBE}")]:
        response = client.request(method, url, json={})
        assert 400 <= response.status_code < 500 and NIK_PROBE not in response.text, (method, url)
