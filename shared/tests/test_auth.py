"""The credential gate of every service: unknown callers are turned away before their input is read."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.testclient import TestClient
from pydantic import BaseModel, SecretStr

from shared.app import create_service_app
from shared.auth import bearer_client

TOKENS = {"hub": SecretStr("hub-token-0123456789"), "admin": SecretStr("admin-token-0123456789")}
received: list[int] = []


def _all(_: Request) -> dict[str, SecretStr]:
    return TOKENS


def _admin_only(_: Request) -> dict[str, SecretStr]:
    return {"admin": TOKENS["admin"]}


class Body(BaseModel):
    n: int


router = APIRouter(prefix="/api/v1")


@router.post("/things")
def post_thing(body: Body, client: str = Depends(bearer_client(_all))) -> dict[str, object]:
    received.append(body.n)
    return {"client": client, "n": body.n}


@router.post("/admin/things", dependencies=[Depends(bearer_client(_admin_only))])
def post_admin_thing(body: Body) -> dict[str, int]:
    received.append(body.n)
    return {"n": body.n}


@asynccontextmanager
async def _lifespan(_: FastAPI) -> AsyncIterator[None]:
    yield


@pytest.fixture
def api() -> TestClient:
    received.clear()
    app = create_service_app(name="t", title="t", description="t", routers=[router], lifespan=_lifespan,
                             credentials=_all)
    return TestClient(app)


def _bearer(client: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[client].get_secret_value()}"}


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic eDp5"}])
def test_malformed_body_from_an_unknown_caller_is_401_not_422(api: TestClient, headers: dict[str, str]) -> None:
    answer = api.post("/api/v1/things", content=b"{not json", headers={**headers, "content-type": "application/json"})
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"
    assert answer.json()["error"] == "Unauthorized"
    assert received == []


def test_unknown_paths_need_a_credential_too(api: TestClient) -> None:
    assert api.get("/api/v1/nothing-here").status_code == 401
    assert api.get("/api/v1/nothing-here", headers=_bearer("hub")).status_code == 404


def test_a_known_caller_gets_the_validation_error(api: TestClient) -> None:
    headers = {**_bearer("hub"), "content-type": "application/json"}
    answer = api.post("/api/v1/things", content=b"{not json", headers=headers)
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["rule"] == "json_invalid"
    assert api.post("/api/v1/things", json={"n": 3}, headers=_bearer("hub")).json() == {"client": "hub", "n": 3}
    assert received == [3]


def test_the_gate_admits_any_client_and_the_route_still_checks_its_role(api: TestClient) -> None:
    answer = api.post("/api/v1/admin/things", json={"n": 1}, headers=_bearer("hub"))
    assert answer.status_code == 401
    assert received == []
    assert api.post("/api/v1/admin/things", json={"n": 2}, headers=_bearer("admin")).status_code == 200


@pytest.mark.parametrize("path", ["/health", "/docs", "/openapi.json", "/redoc"])
def test_health_and_docs_stay_open(api: TestClient, path: str) -> None:
    assert api.get(path).status_code == 200


def test_no_request_builds_a_route(monkeypatch: pytest.MonkeyPatch, api: TestClient) -> None:
    """FastAPI builds an included router's routes (their pydantic fields) on the first request that needs them,
    under a ``warnings.catch_warnings()`` that is not thread-safe; the app factory builds them all when it makes the
    app (``shared.app.build_routes``), so concurrent first requests build nothing."""
    from fastapi._compat import v2

    fields: list[object] = []
    made = v2.ModelField.__post_init__

    def counting(self: object) -> None:
        fields.append(self)
        made(self)

    monkeypatch.setattr(v2.ModelField, "__post_init__", counting)
    headers = {**_bearer("admin"), "content-type": "application/json"}
    assert api.post("/api/v1/things", json={"n": 1}, headers=headers).status_code == 200
    assert api.post("/api/v1/admin/things", json={"n": "x"}, headers=headers).status_code == 422
    assert fields == []
