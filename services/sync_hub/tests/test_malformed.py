"""Every hub endpoint answers malformed input with a 4xx naming the field and the rule, on both databases; never a
5xx. What an outside-in fuzz of the API (schemathesis, on real sockets) found: a NUL (``%00``) in a path or query
parameter reached PostgreSQL, which refuses it in a text parameter (a 500 there, a 404 on SQLite)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from services.sync_hub.config import Settings
from services.sync_hub.main import create_app
from services.sync_hub.tests.test_roles import seed
from shared.contracts.dapodik import PesertaDidik
from shared.contracts.emis import Siswa
from shared.oidc import LocalIssuer
from shared.openapi import example_of

NUL = "%00"
GATEWAY_TOKEN = "a-gateway-token-long-enough-" + "x" * 16
# (method, path with its query, the parameter named in the answer)
NUL_PARAMETERS = [
    ("GET", f"/api/v1/sync-runs/a{NUL}b", "run_id"),
    ("GET", f"/api/v1/sync-runs/a{NUL}b/units", "run_id"),
    ("GET", f"/api/v1/sync-runs/a{NUL}b/outcomes", "run_id"),
    ("POST", f"/api/v1/sync-runs/a{NUL}b/cancel", "run_id"),
    ("GET", f"/api/v1/reviews/a{NUL}b", "case_id"),
    ("POST", f"/api/v1/reviews/decisions/a{NUL}b/reverse", "decision_id"),
    ("GET", f"/api/v1/reviews/decisions?system=emis&student_id=a{NUL}", "student_id"),
    ("GET", f"/api/v1/provenance?target_system=emis&target_record=a{NUL}b", "target_record"),
    ("GET", f"/api/v1/ledger/proof?provenance_id=a{NUL}b&field=nama", "provenance_id"),
    ("GET", f"/api/v1/ledger/proof?provenance_id=p-1&field=x{NUL}", "field"),
    # a field of a query model (CasesQuery, RiskQuery)
    ("GET", f"/api/v1/reviews?cursor=a{NUL}", "cursor"),
    ("GET", f"/api/v1/families-at-risk?cursor=a{NUL}", "cursor"),
]


@pytest.fixture
def hub(db_url: str, tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(Settings(database_url=db_url, local_key_dir=tmp_path / "keys", replica_follow_seconds=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with TestClient(app, raise_server_exceptions=False) as client:
            # every person's role at once, so each route reaches its handler
            token = LocalIssuer(tmp_path / "keys").issue("fuzz", ["admin", "reviewer", "auditor", "viewer"])
            client.headers["Authorization"] = f"Bearer {token}"
            yield client


@pytest.mark.parametrize(("method", "path", "field"), NUL_PARAMETERS)
def test_a_nul_in_a_path_or_query_parameter_is_a_422_naming_it(hub: TestClient, method: str, path: str,
                                                               field: str) -> None:
    r = hub.request(method, path)
    assert r.status_code == 422, (r.status_code, r.text)
    assert r.headers["content-type"] == "application/problem+json"
    assert [(e["field"], e["rule"]) for e in r.json()["errors"]] == [(field, "nul_character")]


def test_a_nul_in_a_query_parameter_the_route_does_not_take_is_ignored(hub: TestClient) -> None:
    """Only the route's own parameters are checked (and named): an error never repeats a name the caller made up."""
    r = hub.get(f"/api/v1/sync-runs?made{NUL}up=x{NUL}")
    assert r.status_code == 200, r.text



@pytest.fixture
def seeded(hub: TestClient) -> tuple[TestClient, str, str]:
    """An open review case and a decision on another case (test_roles' seed)."""
    case_id, decision_id, _run_id = seed(hub.app.state.engine)  # type: ignore[attr-defined]
    return hub, case_id, decision_id


@pytest.mark.parametrize("reason", ["a\x00b", "nul at the end\x00"])
def test_a_reason_holding_a_nul_is_a_422_and_decides_nothing(seeded: tuple[TestClient, str, str],
                                                             reason: str) -> None:
    hub, case_id, decision_id = seeded
    decided = hub.post(f"/api/v1/reviews/{case_id}/decision", json={"verdict": "no_link", "reason": reason})
    assert decided.status_code == 422, (decided.status_code, decided.text)
    assert [(e["field"], e["rule"]) for e in decided.json()["errors"]] == [("reason", "nul_character")]
    reversed_ = hub.post(f"/api/v1/reviews/decisions/{decision_id}/reverse", json={"reason": reason})
    assert reversed_.status_code == 422, (reversed_.status_code, reversed_.text)
    assert [(e["field"], e["rule"]) for e in reversed_.json()["errors"]] == [("reason", "nul_character")]
    # nothing changed: the case is still open, the decision still stands
    assert hub.get(f"/api/v1/reviews/{case_id}").json()["status"] == "OPEN"
    views = hub.get("/api/v1/reviews/decisions", params={"system": "dapodik", "student_id": "pd-1"}).json()
    assert [v["reversed_at"] for v in views] == [None]


@pytest.mark.parametrize("cursor", [str(2**63), "9" * 23, "\u00b2", "\u0661\u0662", "-1", "1e3"])
def test_an_outcomes_cursor_no_page_could_have_issued_is_a_422(hub: TestClient, cursor: str) -> None:
    """Past the id's type it overflowed the bound parameter on PostgreSQL (a 500; INTEGER then, BIGINT since 0027),
    and a superscript digit passed ``str.isdigit`` but not ``int`` (a 500 on both); found by fuzzing the hub."""
    _case, _decision, run_id = seed(hub.app.state.engine)  # type: ignore[attr-defined]
    r = hub.get(f"/api/v1/sync-runs/{run_id}/outcomes", params={"cursor": cursor})
    assert r.status_code == 422, (r.status_code, r.text)
    assert [(e["field"], e["rule"]) for e in r.json()["errors"]] == [("cursor", "opaque_cursor")]
    for past_integer in ("2147483648", str(2**63 - 1)):
        assert hub.get(f"/api/v1/sync-runs/{run_id}/outcomes", params={"cursor": past_integer}).status_code == 200


def example(model: type[BaseModel]) -> dict[str, Any]:
    """A valid record of ``model`` (the OpenAPI's example of it)."""
    schema = model.model_json_schema()
    return example_of(schema, schema)


# (Dapodik's peserta_didik_id has a pattern of its own: its contract already refuses a NUL)
@pytest.mark.parametrize(("system", "records", "key"), [("emis", "siswa", "siswa_id")])
def test_a_checked_students_id_holding_a_nul_is_a_422_naming_it(db_url: str, tmp_path: Path, system: str,
                                                                records: str, key: str) -> None:
    """A gateway's check of a record whose id holds a NUL: 422 naming the record's id field, before anything else
    (the replica is not ready here: a 503 before; with a ready replica it was a 500 on PostgreSQL, the id reaching
    the review decisions' lookup, found by fuzzing the hub on real sockets)."""
    client = f"{system}_gateway"
    app = create_app(Settings(database_url=db_url, local_key_dir=tmp_path / "keys", replica_follow_seconds=0,
                              api_tokens={client: GATEWAY_TOKEN}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with TestClient(app, raise_server_exceptions=False) as hub:
            record = example(Siswa if records == "siswa" else PesertaDidik)
            record[key] = "a\x00b"
            r = hub.post("/api/v1/checks", json={"system": system, records: [record]},
                         headers={"Authorization": f"Bearer {GATEWAY_TOKEN}"})
    assert r.status_code == 422, (r.status_code, r.text)
    assert [(e["field"], e["rule"]) for e in r.json()["errors"]] == [(f"{records}[0].{key}", "nul_character")]
