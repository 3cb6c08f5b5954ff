"""Who may call what at the hub: every route's declared roles, the full matrix of routes x principals, people's
tokens (JWT checks, key rotation), and the access log of personal-data reads (who read my data, the chain).

The matrix is generated from ``app.routes``: a route that declares no role fails
``test_every_api_route_declares_its_roles`` (and is answered 403 at run time), and a route missing from
``EXPECTED`` fails it too, so every new route gets a deliberate decision here.
"""

from __future__ import annotations

import json
import time
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import jwt
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from services.sync_hub.audit.service import verify_rows
from services.sync_hub.config import Settings
from services.sync_hub.deps import Role, api_routes, declared_roles, undeclared
from services.sync_hub.ledger import keys as ledger_keys
from services.sync_hub.main import create_app
from services.sync_hub.review.models import ReviewCaseRow, ReviewDecisionRow
from services.sync_hub.review.schemas import StudentSnapshot
from services.sync_hub.runs.models import SyncRunRow
from shared.clock import utcnow
from shared.contracts.hub import CheckResponse, RunStatus, SourceSystem, SyncRun
from shared.db import session_scope
from shared.oidc import LocalIssuer

BASE = "http://testserver"
EMIS_TOKEN, DAPODIK_TOKEN = "emis-gateway-token-0123456789", "dapodik-gateway-token-0123456789"
STUDENT_NIK, MOTHER_NIK, KK = "3201014101100001", "3201014101800002", "3201010101100003"
V, R, A, AU, GW = Role.VIEWER, Role.REVIEWER, Role.ADMIN, Role.AUDITOR, Role.GATEWAY

# Every /api route of the hub -> the roles that may call it. A route not here, or declaring other roles, fails.
EXPECTED: dict[tuple[str, str], frozenset[Role]] = {
    ("POST", "/api/v1/sync-runs"): frozenset({A}),
    ("POST", "/api/v1/sync-runs/{run_id}/cancel"): frozenset({A}),
    ("GET", "/api/v1/sync-runs"): frozenset({V, R, A}),
    ("GET", "/api/v1/sync-runs/{run_id}"): frozenset({V, R, A}),
    ("GET", "/api/v1/sync-runs/{run_id}/units"): frozenset({V, R, A}),
    ("GET", "/api/v1/sync-runs/{run_id}/outcomes"): frozenset({V, R, A}),
    ("POST", "/api/v1/checks"): frozenset({GW}),
    ("GET", "/api/v1/provenance"): frozenset({V, R, A, AU}),
    ("GET", "/api/v1/reviews"): frozenset({V, R, A}),
    ("GET", "/api/v1/reviews/decisions"): frozenset({R}),
    ("GET", "/api/v1/reviews/{case_id}"): frozenset({R}),
    ("POST", "/api/v1/reviews/{case_id}/decision"): frozenset({R}),
    ("POST", "/api/v1/reviews/decisions/{decision_id}/reverse"): frozenset({R}),
    ("GET", "/api/v1/education-verifications"): frozenset({V, R, A}),
    ("POST", "/api/v1/audit/who-read"): frozenset({AU}),
    ("GET", "/api/v1/audit/verify"): frozenset({A, AU}),
    ("GET", "/api/v1/families-at-risk"): frozenset({V, R, A}),
    ("GET", "/api/v1/families-at-risk/summary"): frozenset({V, R, A}),
    ("GET", "/api/v1/families-at-risk/export"): frozenset({V, R, A}),
    ("GET", "/api/v1/ledger/public-key"): frozenset({V, R, A, AU}),
    ("GET", "/api/v1/ledger/verify"): frozenset({A, AU}),
    ("POST", "/api/v1/ledger/checkpoints"): frozenset({A}),
    ("GET", "/api/v1/ledger/proof"): frozenset({V, R, A, AU}),
    ("POST", "/api/v1/ledger/lookup"): frozenset({V, R, A, AU}),
}


@dataclass
class Hub:
    http: TestClient
    issuer: LocalIssuer
    case_id: str
    decision_id: str
    run_id: str

    def person(self, user: str, *roles: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.issuer.issue(user, roles)}"}


class StubRuns:
    """Starting and cancelling runs answer without a job queue (what they do is tested elsewhere)."""

    def _run(self, trigger: str) -> SyncRun:
        return SyncRun(id=str(uuid.uuid4()), status=RunStatus.QUEUED, trigger=trigger, systems=[SourceSystem.EMIS],
                       created_at=utcnow())

    def submit(self, body: object, trigger: str) -> SyncRun:
        return self._run(trigger)

    def cancel(self, run_id: str, by: str) -> SyncRun:
        return self._run(by)

    def shutdown(self) -> None:
        pass


class StubChecks:
    def check(self, body: object, client: str) -> CheckResponse:
        return CheckResponse(check_id=client, observed_seq=0, results=[])


def seed(engine: sa.Engine) -> tuple[str, str, str]:
    now = utcnow()
    snapshot = StudentSnapshot(nama="Siti Aminah", jenis_kelamin="P", tanggal_lahir="2010-01-01", nik=STUDENT_NIK,
                               no_kk=KK, nama_ibu_kandung="Dewi", nik_ibu=MOTHER_NIK, nama_ayah="Budi", nik_ayah=None)
    case = lambda student_id: ReviewCaseRow(  # noqa: E731
        id=str(uuid.uuid4()), system="dapodik", student_id=student_id, status="OPEN", reason="conflict", detail=None,
        student_fingerprint="f" * 32, candidates_fingerprint="c" * 32, student_json=snapshot.model_dump_json(),
        candidates_json="[]", sync_run_id="r", created_at=now, updated_at=now)
    decided, open_case = case("pd-1"), case("pd-2")
    decision = ReviewDecisionRow(id=str(uuid.uuid4()), case_id=decided.id, system="dapodik", student_id="pd-1",
                                 link=True, no_kk=KK, family_version=1, student_fingerprint="f" * 32,
                                 candidates_fingerprint="c" * 32, reviewer="earlier", reason="seeded", decided_at=now)
    run = SyncRunRow(id=str(uuid.uuid4()), status="SUCCEEDED", trigger="person:operator", systems=["emis"],
                     created_at=now)
    with session_scope(engine) as session:
        session.add_all([decided, open_case, run])
        session.flush()
        session.add(decision)
    return open_case.id, decision.id, run.id


@pytest.fixture
def hub(db_url: str, tmp_path: Path) -> Iterator[Hub]:
    ledger_keys.generate(tmp_path / "ledger.pem")
    settings = Settings(database_url=db_url, local_key_dir=tmp_path / "keys", replica_follow_seconds=0,
                        ledger_key_file=tmp_path / "ledger.pem",
                        oidc_jwks_refetch_seconds=0,
                        api_tokens={"emis_gateway": EMIS_TOKEN, "dapodik_gateway": DAPODIK_TOKEN})
    with TestClient(create_app(settings), base_url=BASE) as http:
        http.app.state.runs.shutdown()  # type: ignore[attr-defined]
        http.app.state.runs, http.app.state.checks = StubRuns(), StubChecks()  # type: ignore[attr-defined]
        case_id, decision_id, run_id = seed(http.app.state.engine)  # type: ignore[attr-defined]
        yield Hub(http, LocalIssuer(tmp_path / "keys"), case_id, decision_id, run_id)


def test_every_api_route_declares_its_roles(tmp_path: Path) -> None:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'hub.db'}", local_key_dir=tmp_path / "keys"))
    declared = {(method, path): declared_roles(route) for method, path, route in api_routes(app)}
    assert len(declared) >= len(EXPECTED)  # the walk through included routers finds them all
    assert [k for k, roles in declared.items() if roles is None] == [], "routes without a declared role"
    assert declared == EXPECTED


def test_a_route_without_a_declared_role_is_closed(tmp_path: Path) -> None:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'hub.db'}", local_key_dir=tmp_path / "keys",
                              replica_follow_seconds=0))
    app.add_api_route("/api/v1/forgotten", lambda: {"open": True}, methods=["GET"])
    assert undeclared(app) == ["GET /api/v1/forgotten"]
    token = LocalIssuer(tmp_path / "keys").issue("root", [r.value for r in Role])
    with TestClient(app, base_url=BASE) as http:
        r = http.get("/api/v1/forgotten", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403 and r.json()["errors"][0]["rule"] == "no_declared_role"


def requests_for(h: Hub) -> dict[tuple[str, str], tuple[str, dict[str, object], int]]:
    """A request per route that the roles allowed by EXPECTED get a 2xx for: (url, httpx kwargs, status)."""
    return {
        ("POST", "/api/v1/sync-runs"): ("/api/v1/sync-runs", {"json": {}}, 202),
        ("POST", "/api/v1/sync-runs/{run_id}/cancel"): (f"/api/v1/sync-runs/{h.run_id}/cancel", {}, 200),
        ("GET", "/api/v1/sync-runs"): ("/api/v1/sync-runs", {}, 200),
        ("GET", "/api/v1/sync-runs/{run_id}"): (f"/api/v1/sync-runs/{h.run_id}", {}, 200),
        ("GET", "/api/v1/sync-runs/{run_id}/units"): (f"/api/v1/sync-runs/{h.run_id}/units", {}, 200),
        ("GET", "/api/v1/sync-runs/{run_id}/outcomes"): (f"/api/v1/sync-runs/{h.run_id}/outcomes", {}, 200),
        # a gateway passes the role check and reaches validation (valid records: tests/test_sync_in_process.py)
        ("POST", "/api/v1/checks"): ("/api/v1/checks", {"json": {"system": "emis"}}, 422),
        ("GET", "/api/v1/provenance"): ("/api/v1/provenance",
                                        {"params": {"target_system": "emis", "target_record": "x"}}, 200),
        ("GET", "/api/v1/reviews"): ("/api/v1/reviews", {}, 200),
        ("GET", "/api/v1/reviews/decisions"): ("/api/v1/reviews/decisions",
                                               {"params": {"system": "dapodik", "student_id": "pd-1"}}, 200),
        ("GET", "/api/v1/reviews/{case_id}"): (f"/api/v1/reviews/{h.case_id}", {}, 200),
        ("POST", "/api/v1/reviews/{case_id}/decision"): (
            f"/api/v1/reviews/{h.case_id}/decision", {"json": {"verdict": "no_link", "reason": "not them"}}, 201),
        ("POST", "/api/v1/reviews/decisions/{decision_id}/reverse"): (
            f"/api/v1/reviews/decisions/{h.decision_id}/reverse", {"json": {"reason": "wrong scan"}}, 200),
        ("GET", "/api/v1/education-verifications"): ("/api/v1/education-verifications",
                                                     {"params": {"periode": "2026-T3"}}, 200),
        ("POST", "/api/v1/audit/who-read"): ("/api/v1/audit/who-read", {"json": {"nik": STUDENT_NIK}}, 200),
        ("GET", "/api/v1/audit/verify"): ("/api/v1/audit/verify", {}, 200),
        # no report built for the period here: past the role check, a 404 naming the period (test_risk_api.py
        # has the 200s on a seeded report)
        ("GET", "/api/v1/families-at-risk"): ("/api/v1/families-at-risk", {"params": {"periode": "2026-T3"}}, 404),
        ("GET", "/api/v1/families-at-risk/summary"): ("/api/v1/families-at-risk/summary",
                                                      {"params": {"periode": "2026-T3"}}, 404),
        ("GET", "/api/v1/families-at-risk/export"): ("/api/v1/families-at-risk/export",
                                                     {"params": {"periode": "2026-T3"}}, 404),
        # the ledger is empty here: a checkpoint is a 409, a proof of an unknown value a 404 (past the role check)
        ("GET", "/api/v1/ledger/public-key"): ("/api/v1/ledger/public-key", {}, 200),
        ("GET", "/api/v1/ledger/verify"): ("/api/v1/ledger/verify", {}, 200),
        ("POST", "/api/v1/ledger/checkpoints"): ("/api/v1/ledger/checkpoints", {}, 409),
        ("GET", "/api/v1/ledger/proof"): ("/api/v1/ledger/proof", {"params": {"provenance_id": "p", "field": "f"}},
                                          404),
        ("POST", "/api/v1/ledger/lookup"): ("/api/v1/ledger/lookup", {"json": {"record_hashes": ["0" * 64]}}, 200),
    }


def test_role_matrix_every_route_by_every_role_and_client(hub: Hub) -> None:
    principals: dict[str, tuple[frozenset[Role], dict[str, str]]] = {
        **{role.value: (frozenset({role}), hub.person(f"p-{role.value}", role.value)) for role in
           (V, R, A, AU)},
        "person without a role": (frozenset(), hub.person("nobody")),
        "emis_gateway": (frozenset({GW}), {"Authorization": f"Bearer {EMIS_TOKEN}"}),
        "dapodik_gateway": (frozenset({GW}), {"Authorization": f"Bearer {DAPODIK_TOKEN}"}),
        "no token": (frozenset(), {}),
    }
    samples = requests_for(hub)
    assert set(samples) == set(EXPECTED)
    got, want = {}, {}
    for (method, path), allowed in EXPECTED.items():
        url, kwargs, ok = samples[(method, path)]
        for name, (roles, headers) in principals.items():
            r = hub.http.request(method, url, headers=headers, **kwargs)  # type: ignore[arg-type]
            got[(method, path, name)] = r.status_code
            want[(method, path, name)] = 401 if name == "no token" else ok if roles & allowed else 403
            if r.status_code in (401, 403):
                assert r.json()["errors"][0]["field"] == "authorization", r.text
    assert got == want


def test_a_reviewers_decision_names_the_person_not_a_client(hub: Hub) -> None:
    r = hub.http.post(f"/api/v1/reviews/{hub.case_id}/decision", json={"verdict": "no_link", "reason": "not them"},
                      headers=hub.person("ana", "reviewer"))
    assert r.status_code == 201 and r.json()["reviewer"] == "ana"
    # a gateway's credential is refused before anything is decided (the finding: 201, reviewer dapodik_gateway)
    r = hub.http.post(f"/api/v1/reviews/{hub.case_id}/decision", json={"verdict": "no_link", "reason": "x y z"},
                      headers={"Authorization": f"Bearer {DAPODIK_TOKEN}"})
    assert r.status_code == 403 and r.json()["errors"][0]["rule"] == "role"


# ---- people's tokens ----------------------------------------------------------------------------------


def _claims(**overrides: object) -> dict[str, object]:
    now = int(time.time())
    return {"iss": LocalIssuer.ISSUER, "aud": LocalIssuer.AUDIENCE, "sub": "ana", "roles": ["viewer"], "iat": now,
            "exp": now + 600, **overrides}


def _kid(issuer: LocalIssuer) -> str:
    return str(json.loads(issuer.jwks_path.read_text())["keys"][0]["kid"])


@pytest.mark.parametrize("case", ["audience", "issuer", "expired", "unknown_key", "signature", "algorithm",
                                  "claims", "malformed"])
def test_a_bad_person_token_is_a_401_naming_the_rule(hub: Hub, tmp_path: Path, case: str) -> None:
    other = Ed25519PrivateKey.generate()
    trusted = hub.issuer
    token = {
        "audience": lambda: LocalIssuer(trusted.directory, audience="another-service").issue("ana", ["viewer"]),
        "issuer": lambda: LocalIssuer(trusted.directory, issuer="https://evil.example").issue("ana", ["viewer"]),
        "expired": lambda: trusted.issue("ana", ["viewer"], ttl_seconds=-120),
        "unknown_key": lambda: LocalIssuer(tmp_path / "elsewhere").issue("ana", ["viewer"]),
        "signature": lambda: jwt.encode(_claims(), other, algorithm="EdDSA", headers={"kid": _kid(trusted)}),
        "algorithm": lambda: jwt.encode(_claims(), "a-shared-secret-of-32-bytes-long!", algorithm="HS256",
                                        headers={"kid": _kid(trusted)}),
        "claims": lambda: jwt.encode({k: v for k, v in _claims().items() if k != "sub"},
                                     trusted._key(), algorithm="EdDSA", headers={"kid": _kid(trusted)}),
        "malformed": lambda: "not.a.jwt",
    }[case]()
    r = hub.http.get("/api/v1/sync-runs", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401, r.text
    assert r.json()["errors"] == [{"field": "authorization", "rule": case, "message": r.json()["errors"][0]["message"]}]
    assert r.headers["www-authenticate"] == "Bearer"


def test_keys_rotate_without_a_restart_and_old_tokens_stay_valid_until_they_expire(hub: Hub) -> None:
    before = hub.person("ana", "viewer")
    assert hub.http.get("/api/v1/sync-runs", headers=before).status_code == 200
    hub.issuer.rotate()  # a new key, published beside the old one
    after = hub.person("ana", "viewer")
    assert json.loads(hub.issuer.jwks_path.read_text())["keys"][0]["kid"] != jwt.get_unverified_header(
        before["Authorization"].split()[1])["kid"]
    assert hub.http.get("/api/v1/sync-runs", headers=after).status_code == 200  # unknown kid: JWKS read again
    assert hub.http.get("/api/v1/sync-runs", headers=before).status_code == 200


# ---- the access log -----------------------------------------------------------------------------------


def test_reading_a_review_case_is_logged_and_the_person_can_learn_who_read_their_data(hub: Hub) -> None:
    assert hub.http.get(f"/api/v1/reviews/{hub.case_id}", headers=hub.person("ana", "reviewer")).status_code == 200
    assert hub.http.get(f"/api/v1/reviews/{hub.case_id}", headers=hub.person("vic", "viewer")).status_code == 403
    assert hub.http.get("/api/v1/reviews", headers=hub.person("vic", "viewer")).status_code == 200  # no PII: no entry
    auditor = hub.person("aud", "auditor")
    r = hub.http.post("/api/v1/audit/who-read", json={"nik": MOTHER_NIK}, headers=auditor)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["nik"] != MOTHER_NIK and MOTHER_NIK not in r.text  # masked in the answer
    [read] = answer["reads"]
    assert (read["actor_kind"], read["actor"], read["roles"]) == ("person", "ana", ["reviewer"])
    assert read["route"] == "GET /api/v1/reviews/{case_id}" and read["purpose"].startswith("clerical review")
    assert {"kind": "review_case", "id": hub.case_id} in read["records"]
    # asking is itself a read of the person's data, and is logged
    again = hub.http.post("/api/v1/audit/who-read", json={"nik": MOTHER_NIK}, headers=auditor).json()
    assert [e["actor"] for e in again["reads"]] == ["ana", "aud"]
    assert hub.http.post("/api/v1/audit/who-read", json={"nik": "3201"}, headers=auditor).json()["errors"][0][
        "field"] == "nik"
    assert hub.http.post("/api/v1/audit/who-read", json={"nik": "3201014101800009"},
                         headers=auditor).json()["reads"] == []


def test_the_access_log_is_a_chain_that_names_the_first_entry_tampered_with(hub: Hub) -> None:
    for _ in range(3):
        hub.http.get(f"/api/v1/reviews/{hub.case_id}", headers=hub.person("ana", "reviewer"))
    admin = hub.person("adm", "admin")
    report = hub.http.get("/api/v1/audit/verify", headers=admin).json()
    assert report["ok"] and report["entries"] == 3 and len(report["head"]) == 64
    engine = hub.http.app.state.engine  # type: ignore[attr-defined]
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE access_log SET actor = 'someone-else' WHERE seq = 2"))
    report = hub.http.get("/api/v1/audit/verify", headers=admin).json()
    assert (report["ok"], report["first_broken"]) == (False, 2) and "edited" in report["reason"]


def test_chain_verification_finds_removed_and_relinked_entries(hub: Hub) -> None:
    for _ in range(3):
        hub.http.get(f"/api/v1/reviews/{hub.case_id}", headers=hub.person("ana", "reviewer"))
    from services.sync_hub.audit import repository
    with session_scope(hub.http.app.state.engine) as session:  # type: ignore[attr-defined]
        rows = list(repository.in_order(session))
        session.expunge_all()
    assert verify_rows(rows).ok
    removed = verify_rows([rows[0], rows[2]])
    assert (removed.ok, removed.first_broken) == (False, 2) and "missing" in (removed.reason or "")
    rows[2].prev_hash = rows[0].hash  # relinked past a removed entry, renumbered
    rows[2].seq = 2
    relinked = verify_rows([rows[0], rows[2]])
    assert (relinked.ok, relinked.first_broken) == (False, 2)


# ---- the console (/console): the same deny-by-default, for people in a browser -----------------------------

from services.sync_hub.console import auth as console_auth  # noqa: E402

# Every console route -> the roles that may open it ("open": anyone, the sign-in pages). A route not here fails.
CONSOLE_EXPECTED: dict[tuple[str, str], frozenset[Role] | str] = {
    ("GET", "/console/login"): "open",
    ("POST", "/console/login"): "open",
    ("POST", "/console/logout"): "open",
    ("GET", "/console"): frozenset({V, R, A, AU}),
    ("GET", "/console/runs"): frozenset({V, R, A}),
    ("POST", "/console/runs"): frozenset({A}),
    ("GET", "/console/runs/{run_id}"): frozenset({V, R, A}),
    ("GET", "/console/runs/{run_id}/progress"): frozenset({V, R, A}),
    ("POST", "/console/runs/{run_id}/cancel"): frozenset({A}),
    ("GET", "/console/outcomes"): frozenset({V, R, A}),
    ("GET", "/console/outcomes/export"): frozenset({V, R, A}),
    ("GET", "/console/review"): frozenset({V, R, A}),
    ("GET", "/console/review/history"): frozenset({R}),
    ("GET", "/console/review/{case_id}"): frozenset({R}),
    ("POST", "/console/review/{case_id}"): frozenset({R}),
    ("POST", "/console/review/decisions/{decision_id}/reverse"): frozenset({R}),
    ("GET", "/console/provenance"): frozenset({V, R, A, AU}),
    ("POST", "/console/provenance"): frozenset({V, R, A, AU}),
    ("GET", "/console/provenance/{system}/{student_id}"): frozenset({V, R, A, AU}),
    ("GET", "/console/families"): frozenset({V, R, A}),
    ("GET", "/console/families/export"): frozenset({V, R, A}),
    ("GET", "/console/health"): frozenset({V, R, A, AU}),
}


def test_every_console_route_declares_its_roles(tmp_path: Path) -> None:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'hub.db'}", local_key_dir=tmp_path / "keys"))
    declared = {(method, path): console_auth.declared(route)
                for method, path, route in console_auth.console_routes(app)}
    assert [k for k, roles in declared.items() if roles is None] == [], "console routes without a declaration"
    assert declared == CONSOLE_EXPECTED


def test_a_console_route_without_a_declaration_is_closed(tmp_path: Path) -> None:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'hub.db'}", local_key_dir=tmp_path / "keys",
                              replica_follow_seconds=0))
    from fastapi import APIRouter, Depends

    forgotten = APIRouter(prefix="/console", dependencies=[Depends(console_auth.enforce_console_declared)])
    forgotten.add_api_route("/forgotten", lambda: {"open": True}, methods=["GET"])
    app.include_router(forgotten)
    with TestClient(app, base_url=BASE) as http:
        assert http.get("/console/forgotten").status_code == 403
        # a console cookie opens no API route: the API still wants a bearer credential
        token = LocalIssuer(tmp_path / "keys").issue("root", ["admin", "viewer"])
        r = http.get("/api/v1/sync-runs", headers={"Cookie": f"{console_auth.COOKIE}={token}"})
        assert r.status_code == 401


def console_requests(h: Hub) -> dict[tuple[str, str], tuple[str, dict[str, object], int]]:
    """A request per console route and the status a principal allowed by CONSOLE_EXPECTED gets."""
    return {
        ("GET", "/console/login"): ("/console/login", {}, 200),
        ("POST", "/console/login"): ("/console/login", {"data": {"token": "x"}}, 403),  # no login CSRF nonce
        ("POST", "/console/logout"): ("/console/logout", {"data": {}}, 303),
        ("GET", "/console"): ("/console", {}, 303),
        ("GET", "/console/runs"): ("/console/runs", {}, 200),
        ("POST", "/console/runs"): ("/console/runs", {"data": {}}, 303),
        ("GET", "/console/runs/{run_id}"): (f"/console/runs/{h.run_id}", {}, 200),
        ("GET", "/console/runs/{run_id}/progress"): (f"/console/runs/{h.run_id}/progress", {}, 200),
        ("POST", "/console/runs/{run_id}/cancel"): (f"/console/runs/{h.run_id}/cancel", {"data": {}}, 303),
        ("GET", "/console/outcomes"): ("/console/outcomes", {}, 200),
        ("GET", "/console/outcomes/export"): ("/console/outcomes/export", {"params": {"format": "csv"}}, 200),
        ("GET", "/console/review"): ("/console/review", {}, 200),
        ("GET", "/console/review/history"): ("/console/review/history", {}, 200),
        ("GET", "/console/review/{case_id}"): (f"/console/review/{h.case_id}", {}, 200),
        ("POST", "/console/review/{case_id}"): (f"/console/review/{h.case_id}",
                                               {"data": {"choice": "no_link", "reason": "not them"}}, 303),
        ("POST", "/console/review/decisions/{decision_id}/reverse"): (
            f"/console/review/decisions/{h.decision_id}/reverse", {"data": {"reason": "wrong scan"}}, 303),
        ("GET", "/console/provenance"): ("/console/provenance", {}, 200),
        ("POST", "/console/provenance"): ("/console/provenance", {"data": {"nik": STUDENT_NIK}}, 200),
        # no student read yet: past the role check, a 404 page naming none
        ("GET", "/console/provenance/{system}/{student_id}"): ("/console/provenance/dapodik/pd-9", {}, 404),
        # no report built: past the role check, a 404 page saying so (test_console.py has the 200s)
        ("GET", "/console/families"): ("/console/families", {}, 404),
        ("GET", "/console/families/export"): ("/console/families/export", {}, 404),
        ("GET", "/console/health"): ("/console/health", {}, 200),
    }


def test_console_matrix_every_route_by_every_role(hub: Hub) -> None:
    tokens = {role.value: hub.issuer.issue(f"p-{role.value}", [role.value]) for role in (V, R, A, AU)}
    tokens["person without a role"] = hub.issuer.issue("nobody", [])
    principals: dict[str, tuple[frozenset[Role], str | None]] = {
        **{role.value: (frozenset({role}), tokens[role.value]) for role in (V, R, A, AU)},
        "person without a role": (frozenset(), tokens["person without a role"]),
        "no cookie": (frozenset(), None)}
    samples = console_requests(hub)
    assert set(samples) == set(CONSOLE_EXPECTED)
    got, want = {}, {}
    for (method, path), allowed in CONSOLE_EXPECTED.items():
        url, kwargs, ok = samples[(method, path)]
        for name, (roles, token) in principals.items():
            headers = {"Cookie": f"{console_auth.COOKIE}={token}"} if token else {}
            args = dict(kwargs)
            if method == "POST" and token and path != "/console/login":
                args["data"] = {**args["data"], "csrf": console_auth.csrf_token(token)}  # type: ignore[dict-item]
            r = hub.http.request(method, url, headers=headers, follow_redirects=False, **args)  # type: ignore[arg-type]
            got[(method, path, name)] = r.status_code
            if allowed == "open":
                want[(method, path, name)] = ok
            elif token is None:
                want[(method, path, name)] = 303  # to the sign-in page
            else:
                want[(method, path, name)] = ok if roles & allowed else 403  # type: ignore[operator]
            if r.status_code == 303 and token is None and allowed != "open":
                assert r.headers["location"].startswith("/console/login?next=")
    assert got == want
