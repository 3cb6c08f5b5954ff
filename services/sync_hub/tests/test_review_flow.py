"""Clerical review end to end, in process: the hub against the three real apps (as tests/test_sync_in_process.py).

A student whose child NIK and mother NIK point at two families goes to review; a reviewer decides through
the API; the next sync writes what the reviewer decided, with provenance naming the decision; a reversal
sends the student back to review.
"""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from jembatan.changes import plant_parent_conflict
from jembatan.stack import Stack
from services.dapodik_gateway.config import Settings as DapodikSettings
from services.dapodik_gateway.main import create_app as dapodik_app
from services.emis_gateway.config import Settings as EmisSettings
from services.emis_gateway.main import create_app as emis_app
from services.kemensos_mock.config import Settings as KemensosSettings
from services.kemensos_mock.main import create_app as kemensos_app
from services.sync_hub.config import Settings as HubSettings
from services.sync_hub.main import create_app as hub_app
from services.sync_hub.upstreams import Upstreams
from shared.clients import DapodikClient, EmisClient, HubClient, KemensosClient
from shared.contracts.hub import RunStatus, SourceSystem
from worldgen.config import WorldConfig
from worldgen.generate import generate_world

BASE = "http://testserver"


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Stack, tuple[str, str, str]]:
    """One small world with a planted conflict, loaded once into SQLite files for the three upstreams."""
    root = tmp_path_factory.mktemp("review")
    generate_world(WorldConfig(seed=11, n_families=60), root / "world")
    planted = plant_parent_conflict(root / "world")
    stack = Stack(root)
    stack.load_world(root / "world")
    return stack, planted


@pytest.fixture
def system(loaded: tuple[Stack, tuple[str, str, str]], tmp_path: Path,
           db_url: str) -> Iterator[tuple[TestClient, HubClient, Upstreams, tuple[str, str, str]]]:
    template, planted = loaded
    shutil.copytree(template.workdir / "db", tmp_path / "db")  # each test syncs its own copy
    stack = Stack(tmp_path, creds=template.creds)
    c = stack.creds
    with ExitStack() as ctx:
        def client(app):  # type: ignore[no-untyped-def]
            return ctx.enter_context(TestClient(app, base_url=BASE))

        kemensos = client(kemensos_app(KemensosSettings(database_url=stack.database_url("kemensos_mock"),
                                                        api_tokens={"sync_hub": c.hub_to_kemensos})))
        emis = client(emis_app(EmisSettings(database_url=stack.database_url("emis_gateway"),
                                            api_tokens={"sync_hub": c.hub_to_emis})))
        dapodik = client(dapodik_app(DapodikSettings(database_url=stack.database_url("dapodik_gateway"),
                                                     api_tokens={"sync_hub": c.hub_to_dapodik})))
        ups = Upstreams(KemensosClient(BASE, c.hub_to_kemensos, http=kemensos),
                        EmisClient(BASE, c.hub_to_emis, http=emis),
                        DapodikClient(BASE, c.hub_to_dapodik, http=dapodik))
        hub_http = client(hub_app(HubSettings(database_url=db_url, local_key_dir=tmp_path / "keys",
                                              in_process_worker=True),
                                  upstreams=ups))
        # the reviewer is a person (a token from the hub's local issuer); runs are started by an admin
        hub_http.headers["Authorization"] = f"Bearer {stack.hub_token('reviewer-ana', 'reviewer')}"
        admin = HubClient(BASE, stack.hub_operator, http=TestClient(hub_http.app, base_url=BASE))
        yield hub_http, admin, ups, planted


def _sync(hub: HubClient):  # type: ignore[no-untyped-def]
    run = hub.wait(hub.start_run().id, timeout=300, poll=0.05)
    assert run.status is RunStatus.SUCCEEDED, run.errors
    return run


def test_a_review_decision_changes_what_the_next_sync_writes(system) -> None:  # type: ignore[no-untyped-def]
    http, hub, ups, (student_id, own_kk, other_kk) = system
    first = _sync(hub)
    pd = ups.dapodik.get_student(student_id)
    assert pd.status_padan is not None and pd.status_padan.value == "IN_REVIEW"
    assert "penerima_kps" not in {p.field for p in pd.provenance}  # nothing written while in review

    cases = http.get("/api/v1/reviews").json()["items"]
    case = next(c for c in cases if c["student_id"] == student_id)
    assert case["reason"] == "conflict" and case["status"] == "OPEN"
    view = http.get(f"/api/v1/reviews/{case['id']}").json()
    assert view["student"]["nik_ibu"] is not None
    assert {c["no_kk"] for c in view["candidate_families"]} == {own_kk, other_kk}
    mine = next(c for c in view["candidate_families"] if c["no_kk"] == own_kk)
    assert {f["field"]: f["agreement"] for f in mine["fields"]}["nik"] == "exact"  # side by side, per field

    # a second sync asks nothing new: the same case stays open
    _sync(hub)
    assert [c["id"] for c in http.get("/api/v1/reviews").json()["items"] if c["student_id"] == student_id] == [
        case["id"]]

    bad = http.post(f"/api/v1/reviews/{case['id']}/decision",
                    json={"verdict": "link", "no_kk": "3201010101010001", "reason": "looks right"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["rule"] == "not_a_candidate"
    made = http.post(f"/api/v1/reviews/{case['id']}/decision",
                     json={"verdict": "link", "no_kk": own_kk, "reason": "KK scan shows the child"})
    assert made.status_code == 201, made.text
    decision = made.json()
    assert decision["reviewer"] == "reviewer-ana" and decision["verdict"] == "link"
    again = http.post(f"/api/v1/reviews/{case['id']}/decision",
                      json={"verdict": "no_link", "reason": "changed my mind"})
    assert again.status_code == 409  # a decided case is not decided twice; reverse instead

    second = _sync(hub)
    assert second.values_written > 0
    pd = ups.dapodik.get_student(student_id)
    prov = {p.field: p for p in pd.provenance}
    assert pd.status_padan is not None and pd.status_padan.value in ("PKH_RECIPIENT", "NOT_PKH_RECIPIENT")
    assert "reviewer-ana" in (pd.keterangan_padan or "")
    assert prov["penerima_kps"].matched_by.value == "review"
    assert prov["penerima_kps"].source_record == f"keluarga/{own_kk}"
    assert prov["penerima_kps"].sync_run_id == second.id
    at_hub = hub.provenance(SourceSystem.DAPODIK, student_id)
    assert any(r.field == "penerima_kps" and r.matched_by.value == "review" for r in at_hub)

    # the decision is reused: the next run writes nothing new and asks nothing
    third = _sync(hub)
    assert third.values_written == 0
    assert not [c for c in http.get("/api/v1/reviews").json()["items"] if c["student_id"] == student_id]

    # reversible: the student goes back to review
    rev = http.post(f"/api/v1/reviews/decisions/{decision['id']}/reverse", json={"reason": "wrong scan"})
    assert rev.status_code == 200 and rev.json()["reversed_by"] == "reviewer-ana"
    assert http.post(f"/api/v1/reviews/decisions/{decision['id']}/reverse",
                     json={"reason": "again"}).status_code == 409
    _sync(hub)
    assert ups.dapodik.get_student(student_id).status_padan.value == "IN_REVIEW"  # type: ignore[union-attr]
    history = http.get("/api/v1/reviews/decisions", params={"system": "dapodik", "student_id": student_id}).json()
    assert len(history) == 1 and history[0]["reversed_at"] is not None
    assert first.outcomes.get("IN_REVIEW", 0) >= 1


def test_review_api_needs_a_token_and_names_bad_input(system) -> None:  # type: ignore[no-untyped-def]
    http, _, _, _ = system
    assert http.get("/api/v1/reviews", headers={"Authorization": "Bearer nope-nope-nope"}).status_code == 401
    assert http.get("/api/v1/reviews/no-such-case").status_code == 404
    r = http.get("/api/v1/reviews", params={"status": "MAYBE"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"].endswith("status")
    r = http.get("/api/v1/reviews", params={"cursor": "%%%"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "cursor"
    r = http.post("/api/v1/reviews/x/decision", json={"verdict": "link", "reason": "x"})
    assert r.status_code == 422
    assert http.post("/api/v1/reviews/decisions/nope/reverse", json={"reason": "why not"}).status_code == 404
