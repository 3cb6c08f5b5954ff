"""Every endpoint answers malformed input with a 4xx naming the field and the rule; never a 5xx."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.emis_gateway.tests.conftest import NSM_A

NUL = "%00"
BAD: list[tuple[str, str, dict[str, Any] | None, Any]] = [
    # (method, path, query, JSON body)
    ("GET", "/api/v1/madrasah", {"limit": "many"}, None),
    ("GET", "/api/v1/madrasah", {"cursor": "\x00"}, None),
    ("GET", "/api/v1/madrasah/abc", None, None),
    ("GET", "/api/v1/pesantren", {"sort": "nama"}, None),
    ("GET", "/api/v1/pesantren/" + "9" * 13, None, None),
    ("GET", "/api/v1/siswa", {"nsm": "1" * 11}, None),
    ("GET", "/api/v1/siswa", {"cursor": "e30"}, None),
    ("GET", f"/api/v1/siswa/a{NUL}b", None, None),
    ("PUT", f"/api/v1/siswa/a{NUL}b/pkh-manual", None, {"penerima_pkh": True}),
    ("PUT", "/api/v1/siswa/siswa-0000/pkh-manual", None, ["not", "an", "object"]),
    ("PUT", "/api/v1/siswa/siswa-0000/pkh-manual", None, {"no_kks": 123}),
    ("POST", f"/api/v1/siswa/a{NUL}b/pkh-request", None, None),
    ("POST", "/api/v1/siswa/" + "x" * 65 + "/pkh-request", None, None),
    ("POST", "/api/v1/madrasah/1/pkh-request", None, None),
    ("GET", "/api/v1/pkh-requests/" + "f" * 37, None, None),
    ("GET", "/api/v1/pkh-requests/abc/results", {"limit": -1}, None),
    ("GET", "/api/v1/data-ganda", {"cursor": "W10"}, None),  # base64 of []
    ("GET", "/api/v1/data-ganda", {"cursor": "eyJhIjogMX0"}, None),  # base64 of {"a": 1}
    ("GET", f"/api/v1/madrasah/{NSM_A}/data-ganda", {"limit": 1001}, None),
    ("GET", f"/api/v1/madrasah/{NSM_A}/sinkron/perubahan", {"sync_run_id": "run\x00"}, None),
    ("GET", f"/api/v1/madrasah/{NSM_A}/sinkron/perubahan", {"cursor": "9" * 19}, None),
    ("GET", f"/api/v1/madrasah/{NSM_A}/siswa/export", {"format": "pdf"}, None),
    ("GET", "/api/v1/hub/siswa", {"since": "not-a-position"}, None),
    ("GET", "/api/v1/hub/siswa", {"cursor": "W10"}, None),
    ("GET", "/api/v1/hub/siswa", {"limit": 0}, None),
    ("POST", "/api/v1/hub/results", None, {"sync_run_id": "r", "items": []}),
    ("POST", "/api/v1/hub/results", None, {"sync_run_id": "r", "items": [{"student_id": "x"}]}),
]


@pytest.mark.parametrize(("method", "path", "query", "body"), BAD)
def test_malformed_input_is_a_4xx_with_field_and_rule(api: TestClient, method: str, path: str,
                                                      query: dict[str, Any] | None, body: Any) -> None:
    r = api.request(method, path, params=query, json=body)
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    errors = r.json()["errors"]
    assert errors and all(e["field"] and e["rule"] for e in errors), r.text


def test_an_import_body_that_is_not_a_file_is_a_4xx(api: TestClient) -> None:
    for content in (b"\xff\xfe\x00garbage", b"PK\x03\x04" + b"\x00" * 64, b"\x00" * 10):
        for fmt in ("csv", "xlsx"):
            r = api.post(f"/api/v1/madrasah/{NSM_A}/siswa/import", params={"format": fmt}, content=content)
            assert r.status_code == 422 and r.json()["errors"][0]["field"] == "file", (fmt, content, r.text)
