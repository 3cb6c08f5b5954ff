"""``POST /api/v1/peserta-didik/{id}/pkh-request`` with a stand-in hub (httpx.MockTransport) that answers as the
hub does: the outcome, and result items only for values the record does not hold yet. The real hub: the e2e
tests (tests/e2e/test_checks_end_to_end.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from services.dapodik_gateway.tests import factories as f
from services.dapodik_gateway.tests.conftest import AS_OPERATOR
from shared.clients import HubClient
from shared.contracts.common import Outcome
from shared.contracts.hub import CheckResponse, StudentOutcome
from shared.http import RetryPolicy


class StandInHub:
    """``POST /api/v1/checks``: the student is a PKH recipient; an item only while the record sent does not say
    so yet (as the hub diffs); ``status`` other than 200 answers that status."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.status = 200
        self.seq = 10

    def handle(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.bodies.append(body)
        if self.status != 200:
            return httpx.Response(self.status, json={"error": "UpstreamFailure", "detail": "no", "errors": []})
        [record] = body["peserta_didik"]
        n = next(n for n in range(1, 9) if f.uid(n) == record["peserta_didik_id"])
        self.seq += 1
        check = f"check-{self.seq}"
        items = [] if record["penerima_kps"] else [f.pkh_item(n, self.seq, pid=f"p-{self.seq}", run=check)]
        results = [StudentOutcome(sync_run_id=check, system="dapodik", student_id=record["peserta_didik_id"],
                                  outcome=Outcome.PKH_RECIPIENT, detail="KPM PKH aktif (nik_ibu)",
                                  matched_by="nik_ibu")]
        answer = CheckResponse(check_id=check, observed_seq=self.seq, items=items, results=results)
        return httpx.Response(200, content=answer.model_dump_json(), headers={"Content-Type": "application/json"})


@pytest.fixture
def hub() -> StandInHub:
    return StandInHub()


@pytest.fixture
def gateway(make_client: Callable[..., TestClient], hub: StandInHub, db_url: str) -> TestClient:
    """Two schools (the second in another region); students 1-5 in school 1, 6-8 in school 2; as the operator."""
    client = make_client(
        [f.sekolah(1), f.sekolah(2, kode_wilayah="3301020003")],
        [f.peserta_didik(n, 1) for n in range(1, 6)] + [f.peserta_didik(n, 2) for n in range(6, 9)], url=db_url,
        hub_url="http://hub.test", hub_token="hub-token-0123456789")
    client.app.state.hub = HubClient("http://hub.test", "hub-token-0123456789",
                                     transport=httpx.MockTransport(hub.handle), retry=RetryPolicy(attempts=1))
    client.headers.update(AS_OPERATOR)
    return client


def test_a_press_writes_what_the_hub_sends_and_answers_the_record_as_written(gateway: TestClient,
                                                                            hub: StandInHub) -> None:
    pid = f.uid(6)
    before = gateway.get(f"/api/v1/peserta-didik/{pid}").json()
    r = gateway.post(f"/api/v1/peserta-didik/{pid}/pkh-request")
    assert r.status_code == 200, r.text
    body = r.json()
    # the hub was sent the record as the API shows it, with its school's region
    assert hub.bodies[-1]["peserta_didik"] == [before] and hub.bodies[-1]["kode_wilayah"] == {pid: "3301020003"}
    assert body["status_padan"] == "PKH_RECIPIENT" and body["check_id"] == "check-11"
    assert set(body["nilai_ditulis"]) >= {"penerima_kps", "status_padan"}
    assert body["peserta_didik"]["penerima_kps"] is True
    assert body["peserta_didik"] == gateway.get(f"/api/v1/peserta-didik/{pid}").json()  # as written

    # pressed again: the hub sends nothing to write; the answer shows the record as it was sent (and is)
    again = gateway.post(f"/api/v1/peserta-didik/{pid}/pkh-request").json()
    assert again["nilai_ditulis"] == [] and again["check_id"] == "check-12"
    assert again["peserta_didik"] == hub.bodies[-1]["peserta_didik"][0]
    assert again["peserta_didik"] == gateway.get(f"/api/v1/peserta-didik/{pid}").json()


def test_a_press_the_hub_cannot_answer_writes_nothing(gateway: TestClient, hub: StandInHub) -> None:
    pid = f.uid(1)
    before = gateway.get(f"/api/v1/peserta-didik/{pid}").json()
    for status, expected in ((503, 503), (403, 503)):
        hub.status = status
        r = gateway.post(f"/api/v1/peserta-didik/{pid}/pkh-request")
        assert r.status_code == expected and r.json()["error"] == "UpstreamFailure"
    assert gateway.get(f"/api/v1/peserta-didik/{pid}").json() == before


def test_an_unknown_student_is_404_and_the_hub_is_not_asked(gateway: TestClient, hub: StandInHub) -> None:
    r = gateway.post(f"/api/v1/peserta-didik/{f.uid(99)}/pkh-request")
    assert r.status_code == 404 and r.json()["errors"][0]["field"] == "peserta_didik_id"
    assert hub.bodies == []


class StandInHubOfMany(StandInHub):
    """``StandInHub`` for checks of several records: each answered as a check of it alone would be."""

    def handle(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.bodies.append(body)
        if self.status != 200:
            return httpx.Response(self.status, json={"error": "UpstreamFailure", "detail": "no", "errors": []})
        self.seq += 1
        check = f"check-{self.seq}"
        items, results = [], []
        for record in body["peserta_didik"]:
            n = next(n for n in range(1, 9) if f.uid(n) == record["peserta_didik_id"])
            if not record["penerima_kps"]:
                items.append(f.pkh_item(n, self.seq, pid=f"p-{self.seq}-{n}", run=check))
            results.append(StudentOutcome(sync_run_id=check, system="dapodik", student_id=record["peserta_didik_id"],
                                          outcome=Outcome.PKH_RECIPIENT, detail="KPM PKH aktif (nik_ibu)",
                                          matched_by="nik_ibu"))
        answer = CheckResponse(check_id=check, observed_seq=self.seq, items=items, results=results)
        return httpx.Response(200, content=answer.model_dump_json(), headers={"Content-Type": "application/json"})


def test_presses_done_together_are_answered_each_as_alone(gateway: TestClient) -> None:
    """Presses asked at once go through one read, one call to the hub and one transaction for the values
    (``service.request_students``); each is answered as alone: its outcome, the values written for it, its record
    as written; a student not found fails only its own press; a refusal that may concern one record asks each
    press again alone."""
    from services.dapodik_gateway.pkh import service
    from shared.errors import NotFound, UpstreamFailure

    many = StandInHubOfMany()
    hub = HubClient("http://hub.test", "hub-token-0123456789", transport=httpx.MockTransport(many.handle),
                    retry=RetryPolicy(attempts=1))
    engine = gateway.app.state.engine
    presses = [(f.uid(6), "operator"), (f.uid(99), "operator"), (f.uid(1), "operator")]
    answers = service.request_students(engine, hub, presses)
    assert [[r["peserta_didik_id"] for r in b["peserta_didik"]] for b in many.bodies] == [[f.uid(6), f.uid(1)]]
    assert many.bodies[0]["kode_wilayah"] == {f.uid(6): "3301020003", f.uid(1): f.sekolah(1)["kode_wilayah"]}
    assert isinstance(answers[1], NotFound)
    for (pid, _), answer in ((presses[0], answers[0]), (presses[2], answers[2])):
        assert not isinstance(answer, BaseException)
        assert answer.status_padan is Outcome.PKH_RECIPIENT and answer.check_id == "check-11"
        assert set(answer.nilai_ditulis) >= {"penerima_kps", "status_padan"}
        assert answer.peserta_didik.model_dump(mode="json") == gateway.get(f"/api/v1/peserta-didik/{pid}").json()
    # again: the values are held now, nothing written, each answered with its record as it was sent
    again = service.request_students(engine, hub, presses)
    assert all(not a.nilai_ditulis for a in (again[0], again[2]))  # type: ignore[union-attr]
    # the hub refusing the call: each press asked again alone, each its own failure
    many.status = 400
    refused = service.request_students(engine, hub, [(f.uid(6), "operator"), (f.uid(1), "operator")])
    assert [len(b["peserta_didik"]) for b in many.bodies[2:]] == [2, 1, 1]
    assert all(isinstance(r, UpstreamFailure) for r in refused) and refused[0] is not refused[1]


@pytest.mark.postgres
def test_a_press_after_the_databases_connections_were_closed_by_the_server_is_answered(
        make_client: Callable[..., TestClient], hub: StandInHub, postgres_url: str) -> None:
    """The server closed every pooled connection (a restart, an idle timeout, ``pg_terminate_backend``): the next
    press gets fresh ones at checkout and is answered, not failed with a 500."""
    import sqlalchemy as sa

    from shared.testing import terminate_all_but

    client = make_client([f.sekolah(1)], [f.peserta_didik(n, 1) for n in range(1, 3)], url=postgres_url,
                         hub_url="http://hub.test", hub_token="hub-token-0123456789")
    client.app.state.hub = HubClient("http://hub.test", "hub-token-0123456789",
                                     transport=httpx.MockTransport(hub.handle), retry=RetryPolicy(attempts=1))
    client.headers.update(AS_OPERATOR)
    assert client.post(f"/api/v1/peserta-didik/{f.uid(1)}/pkh-request").status_code == 200
    assert terminate_all_but(sa.engine.make_url(postgres_url).database or "")  # the pool's connections, closed
    r = client.post(f"/api/v1/peserta-didik/{f.uid(2)}/pkh-request")
    assert r.status_code == 200, r.text
    assert r.json()["status_padan"] == "PKH_RECIPIENT" and r.json()["peserta_didik"]["penerima_kps"] is True
