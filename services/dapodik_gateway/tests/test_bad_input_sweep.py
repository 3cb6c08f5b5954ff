"""Every route of the OpenAPI document, sent malformed input: a 4xx whose errors name the field and the rule,
never a 5xx, and nothing changed. The routes are read from the app itself, so a new route is swept too."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from services.dapodik_gateway.tests import factories as f
from services.dapodik_gateway.tests.conftest import AS_OPERATOR

TABLES = ("peserta_didik", "value_history", "field_provenance", "field_observation", "vld_peserta_didik",
          "kesejahteraan_pd", "table_sync_log", "sync_position", "sk_kip", "kip_tidak_cocok")
GOOD = {"npsn": f.sekolah(1)["npsn"], "peserta_didik_id": f.uid(1)}
BAD = {"npsn": "12a", "peserta_didik_id": "not-a-uuid"}


@pytest.fixture(scope="module")
def routes() -> list[tuple[str, str, dict[str, Any]]]:
    from services.dapodik_gateway.main import create_app

    doc = create_app().openapi()
    return [(method.upper(), path, op) for path, ops in doc["paths"].items() if path.startswith("/api/")
            for method, op in ops.items()]


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client([f.sekolah(1)], [f.peserta_didik(n) for n in range(1, 4)])


def snapshot(client: TestClient) -> dict[str, int]:
    with client.app.state.engine.connect() as conn:  # type: ignore[attr-defined]
        return {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES}


def headers_for(path: str, token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if path.startswith("/api/v1/hub/") or "/kip/" in path else AS_OPERATOR


def fill(path: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        path = path.replace("{" + name + "}", value)
    return path


def check(r: Any, where: str) -> set[tuple[str, str]]:
    assert 400 <= r.status_code < 500, f"{where}: {r.status_code} {r.text[:300]}"
    body = r.json()
    assert body["errors"] and all(e["field"] and e["rule"] for e in body["errors"]), f"{where}: {body}"
    return {(e["field"], e["rule"]) for e in body["errors"]}


def test_every_route_names_a_malformed_path_parameter(client: TestClient, token: str,
                                                      routes: list[tuple[str, str, dict[str, Any]]]) -> None:
    before = snapshot(client)
    swept = 0
    for method, path, _ in routes:
        for name in ("npsn", "peserta_didik_id"):
            if "{" + name + "}" not in path:
                continue
            url = fill(fill(path, {name: BAD[name]}), GOOD)
            found = check(client.request(method, url, headers={**headers_for(path, token),
                                                              "Content-Type": "application/json"}, content=b"{}"),
                          f"{method} {url}")
            assert name in {field for field, _ in found}, (method, url, found)
            swept += 1
    assert swept >= 12
    assert snapshot(client) == before


def test_every_route_refuses_an_unknown_query_parameter(client: TestClient, token: str,
                                                        routes: list[tuple[str, str, dict[str, Any]]]) -> None:
    before = snapshot(client)
    for method, path, _ in routes:
        url = fill(path, GOOD)
        r = client.request(method, url, params={"zzz": "1"}, headers=headers_for(path, token))
        assert ("zzz", "unknown_parameter") in check(r, f"{method} {url}")
    assert snapshot(client) == before


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"zzz": 1}', b'"\\u0000"', b"{" * 5000])
def test_every_json_route_names_what_is_wrong_with_a_bad_body(client: TestClient, token: str, body: bytes,
                                                              routes: list[tuple[str, str, dict[str, Any]]]) -> None:
    before = snapshot(client)
    json_routes = [(m, p) for m, p, op in routes if "application/json" in op.get("requestBody", {}).get("content", {})]
    assert len(json_routes) >= 3  # results, SK, edit
    for method, path in json_routes:
        url = fill(path, GOOD)
        check(client.request(method, url, content=body,
                             headers={**headers_for(path, token), "Content-Type": "application/json"}),
              f"{method} {url} {body[:20]!r}")
    assert snapshot(client) == before


def test_every_query_string_parameter_survives_hostile_text(client: TestClient, token: str,
                                                            routes: list[tuple[str, str, dict[str, Any]]]) -> None:
    """NUL, overlong and non-UTF-8 text in every query parameter a route declares: 4xx or a normal answer,
    never a 5xx, nothing changed."""
    before = snapshot(client)
    for method, path, op in routes:
        url = fill(path, GOOD)
        for param in (p["name"] for p in op.get("parameters", []) if p["in"] == "query"):
            for value in ("\x00", "x" * 5000, "%ff%fe", "-1", "1e309", json.dumps({"a": 1})):
                r = client.request(method, url, params={param: value}, headers=headers_for(path, token),
                                   content=b"" if method == "GET" else b"{}")
                assert r.status_code < 500, f"{method} {url}?{param}={value[:10]!r}: {r.status_code} {r.text[:200]}"
                if r.status_code >= 400:
                    check(r, f"{method} {url}?{param}")
    assert snapshot(client) == before
