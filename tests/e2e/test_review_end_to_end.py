"""Clerical review on real sockets: four service processes, a world with one planted conflict.

A student whose child NIK and mother NIK point at two families is sent to review and nothing is written
for it; a reviewer decides through the hub's API; the next sync writes what the reviewer decided, with
provenance naming the decision at the gateway and at the hub; a later run reuses the decision.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from jembatan.changes import plant_parent_conflict
from jembatan.stack import Stack
from shared.clients import DapodikClient, HubClient
from shared.contracts.hub import RunStatus, SourceSystem
from worldgen.config import WorldConfig
from worldgen.generate import generate_world

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, tuple[str, str, str]]]:
    root = tmp_path_factory.mktemp("review-e2e")
    generate_world(WorldConfig(seed=11, n_families=60), root / "world")
    planted = plant_parent_conflict(root / "world")
    with Stack.on_free_ports(root / "stack").serving(root / "world") as stack:
        yield stack, planted


def _sync(hub: HubClient):  # type: ignore[no-untyped-def]
    run = hub.wait(hub.start_run().id, timeout=300)
    assert run.status is RunStatus.SUCCEEDED, run.errors
    return run


def test_a_review_decision_made_through_the_api_changes_what_the_next_sync_writes(system) -> None:  # type: ignore[no-untyped-def]
    stack, (student_id, own_kk, other_kk) = system
    auth = {"Authorization": f"Bearer {stack.hub_token('ana', 'reviewer')}"}  # a person reviews
    with (httpx.Client(base_url=stack.url("sync_hub"), headers=auth, timeout=60) as http,
          HubClient(stack.url("sync_hub"), stack.hub_operator) as hub,
          DapodikClient(stack.url("dapodik_gateway"), stack.creds.hub_to_dapodik) as dapodik):
        first = _sync(hub)
        assert first.outcomes.get("IN_REVIEW", 0) >= 1
        pd = dapodik.get_student(student_id)
        assert pd.status_padan is not None and pd.status_padan.value == "IN_REVIEW"
        assert "penerima_kps" not in {p.field for p in pd.provenance}  # nothing written while in review

        case = next(c for c in http.get("/api/v1/reviews").json()["items"] if c["student_id"] == student_id)
        view = http.get(f"/api/v1/reviews/{case['id']}").json()
        assert {c["no_kk"] for c in view["candidate_families"]} == {own_kk, other_kk}
        made = http.post(f"/api/v1/reviews/{case['id']}/decision",
                         json={"verdict": "link", "no_kk": own_kk, "reason": "KK scan shows the child"})
        assert made.status_code == 201, made.text
        assert made.json()["reviewer"] == "ana"
        # the reviewer's read of the case is in the access log, for an auditor asking about the child's mother
        nik_ibu = view["student"]["nik_ibu"]
        who = httpx.post(stack.url("sync_hub") + "/api/v1/audit/who-read", json={"nik": nik_ibu}, timeout=60,
                         headers={"Authorization": f"Bearer {stack.hub_token('aud', 'auditor')}"}).json()
        assert [(r["actor"], r["route"]) for r in who["reads"]][:1] == [("ana", "GET /api/v1/reviews/{case_id}")]

        second = _sync(hub)
        assert second.values_written > 0
        pd = dapodik.get_student(student_id)
        prov = {p.field: p for p in pd.provenance}
        assert pd.status_padan is not None and pd.status_padan.value in ("PKH_RECIPIENT", "NOT_PKH_RECIPIENT")
        assert prov["penerima_kps"].matched_by.value == "review"
        assert prov["penerima_kps"].source_record == f"keluarga/{own_kk}"
        assert prov["penerima_kps"].sync_run_id == second.id
        at_hub = hub.provenance(SourceSystem.DAPODIK, student_id)
        assert any(r.field == "penerima_kps" and r.matched_by.value == "review" and r.sync_run_id == second.id
                   for r in at_hub)

        third = _sync(hub)  # the decision is reused: nothing new to write, nothing asked again
        assert third.values_written == 0
        assert not [c for c in http.get("/api/v1/reviews").json()["items"] if c["student_id"] == student_id]
