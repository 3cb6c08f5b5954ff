"""Request Data PKH through the HTTP API, with a stand-in hub (httpx.MockTransport) that behaves like the real
one: it receives the records, answers each student's outcome with the result items (values with their
provenance) that the gateway applies itself (or answers 503 while the registry is "down"). The real hub in
process: tests/test_emis_pkh_in_process.py."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from services.emis_gateway.config import Settings
from services.emis_gateway.loader.service import load_world
from services.emis_gateway.main import MIGRATIONS
from services.emis_gateway.pkh.repository import ITEM
from services.emis_gateway.tests.conftest import NSM_A, NSM_B, AppFactory, madrasah, seed, siswa, write_world
from shared.clients import HubClient
from shared.db import make_engine, migrate
from shared.http import RetryPolicy

NSPP = "510032010001"
FAST = {"pkh_poll_seconds": 0.05, "pkh_retry_base_seconds": 0.05, "pkh_retry_cap_seconds": 0.2}
REASONS = {  # what the stand-in hub decides for each student
    "siswa-0000": ("PKH_RECIPIENT", "KPM PKH aktif (nik_ibu)", {"penerima_pkh": True, "periode_pkh": "2026 tahap I"}),
    "siswa-0001": ("NIK_INVALID", "nik: placeholder; nik_ibu: unknown_kecamatan", {}),
    "siswa-0002": ("NOT_REGISTERED", "NIK valid, tidak terdaftar di DTSEN", {}),
}


class StandInHub:
    """``POST /api/v1/checks`` as the hub answers it; ``down`` makes it answer 503 (registry unreachable)."""

    def __init__(self) -> None:
        self.down = False
        self.status = 200
        self.gateway: TestClient | None = None
        self.calls: list[list[str]] = []
        self.bodies: list[dict[str, Any]] = []  # every body received
        self.meanwhile: Callable[[], None] | None = None  # runs as a call arrives (while the gateway waits)
        self.lock = threading.Lock()
        self.seq = 100

    def handle(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/api/v1/checks"
        assert request.headers["authorization"] == "Bearer hub-token-0123456789"
        body = json.loads(request.content)
        if self.meanwhile is not None:
            self.meanwhile()
        with self.lock:
            self.bodies.append(body)
            self.calls.append([r["siswa_id"] for r in body["siswa"]])
            assert set(body["kode_wilayah"]) <= set(self.calls[-1])
            self.seq += 1
            seq = self.seq
        if self.down:
            return httpx.Response(503, json={"error": "UpstreamFailure", "detail": "registry unreachable",
                                             "errors": []})
        if self.status != 200:
            return httpx.Response(self.status, json={"error": "Unauthorized", "detail": "no", "errors": []})
        run = f"check-{seq}"
        items = []
        for sid in self.calls[-1]:
            outcome, detail, values = REASONS.get(sid, REASONS["siswa-0002"])
            items.append({"student_id": sid, "outcome": outcome, "outcome_detail": detail, "values": values,
                          "provenance": {"provenance_id": f"p-{seq}-{sid}", "sync_run_id": run,
                                         "source_system": "kemensos.dtsen", "source_record": "keluarga/x",
                                         "source_version": 1, "observed_seq": seq,
                                         "retrieved_at": datetime.now(UTC).isoformat(), "matched_by": "nik_ibu"}})
        results = [{"sync_run_id": run, "system": "emis", "student_id": i["student_id"], "outcome": i["outcome"],
                    "detail": i["outcome_detail"], "matched_by": "nik_ibu", "no_kk": None} for i in items]
        return httpx.Response(200, json={"check_id": run, "observed_seq": seq, "results": results, "items": items})


@pytest.fixture
def hub() -> StandInHub:
    return StandInHub()


def hub_factory(stand_in: StandInHub) -> Callable[[Settings], HubClient]:
    return lambda _: HubClient("http://hub.test", "hub-token-0123456789",
                               transport=httpx.MockTransport(stand_in.handle), retry=RetryPolicy(attempts=1))


@pytest.fixture
def gateway(app_client: AppFactory, hub: StandInHub, sqlite_url: str, tmp_path: Path, token: str) -> TestClient:
    """The app on SQLite (three students of NSM_A), asking the stand-in hub; calls as an operator."""
    seed(sqlite_url, tmp_path / "world", 3)
    client = app_client(sqlite_url, hub=hub_factory(hub), **FAST,
                        api_tokens={"sync_hub": token, "operator": "operator-token-0123456789"})
    client.headers["Authorization"] = "Bearer operator-token-0123456789"
    hub.gateway = TestClient(client.app, headers={"Authorization": f"Bearer {token}"})  # the hub's credential
    return client


def wait_until_finished(client: TestClient, request_id: str, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(f"/api/v1/pkh-requests/{request_id}").json()
        if body["status"] != "PENDING" or time.monotonic() > deadline:
            return body
        time.sleep(0.02)


def test_request_for_one_student_is_answered_and_saved_in_the_same_step(gateway: TestClient, hub: StandInHub) -> None:
    r = gateway.post("/api/v1/siswa/siswa-0000/pkh-request")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "DONE" and body["total"] == 1 and body["done"] == 1 and body["pending"] == 0
    assert body["outcomes"] == {"PKH_RECIPIENT": 1}
    [answer] = body["results"]
    assert answer["state"] == "DONE" and answer["status_pkh"] == "PKH_RECIPIENT"
    assert answer["keterangan_pkh"] == "KPM PKH aktif (nik_ibu)" and answer["matched_by"] == "nik_ibu"
    # saved: the answer carries the stored PKH data and its sync date; the student shows it with provenance
    assert answer["pkh"]["penerima_pkh"] is True and answer["pkh"]["tanggal_sinkron"] is not None
    student = gateway.get("/api/v1/siswa/siswa-0000").json()
    assert student["pkh"] == answer["pkh"]
    assert {p["field"]: p["sync_run_id"] for p in student["provenance"]}["penerima_pkh"] == answer["sync_run_id"]
    assert hub.calls == [["siswa-0000"]]


@pytest.mark.parametrize(("sid", "outcome", "detail"), [
    ("siswa-0001", "NIK_INVALID", "placeholder"), ("siswa-0002", "NOT_REGISTERED", "tidak terdaftar")])
def test_the_answer_always_says_why(gateway: TestClient, sid: str, outcome: str, detail: str) -> None:
    [answer] = gateway.post(f"/api/v1/siswa/{sid}/pkh-request").json()["results"]
    assert answer["status_pkh"] == outcome and detail in answer["keterangan_pkh"]
    assert answer["pkh"]["status_pkh"] == outcome and answer["pkh"]["penerima_pkh"] is None


def test_registry_down_answers_pending_and_the_request_is_completed_when_it_is_back(
        gateway: TestClient, hub: StandInHub) -> None:
    hub.down = True
    r = gateway.post("/api/v1/siswa/siswa-0001/pkh-request")
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["status"] == "PENDING" and body["pending"] == 1 and "registry unreachable" in body["last_error"]
    assert body["next_attempt_at"] is not None
    [answer] = body["results"]
    assert answer["state"] == "PENDING" and answer["status_pkh"] == "PENDING"
    assert "registry unreachable" in answer["keterangan_pkh"]
    assert gateway.get("/api/v1/siswa/siswa-0001").json()["pkh"]["status_pkh"] is None  # nothing saved yet
    while len(hub.calls) < 3:  # the worker keeps asking (with backoff) while the registry is down
        time.sleep(0.02)
    hub.down = False
    done = wait_until_finished(gateway, body["id"])
    assert done["status"] == "DONE" and done["attempts"] >= 2 and done["last_error"] is None
    [answer] = done["results"]
    assert answer["status_pkh"] == "NIK_INVALID" and "placeholder" in answer["keterangan_pkh"]
    assert gateway.get("/api/v1/siswa/siswa-0001").json()["pkh"]["status_pkh"] == "NIK_INVALID"


def test_madrasah_request_is_asynchronous_with_progress_and_chunks(
        app_client: AppFactory, hub: StandInHub, sqlite_url: str, tmp_path: Path, token: str) -> None:
    write_world(tmp_path / "world", [{"nsm": NSM_A, "npsn": "60000001", "nama": "MI A", "jenjang": "MI",
                                      "status": "SWASTA", "kode_wilayah": "3201010001"}],
                [siswa(i) for i in range(5)] + [siswa(5, status_aktif=False)])
    migrate(MIGRATIONS, sqlite_url)
    engine = make_engine(sqlite_url)
    assert load_world(engine, tmp_path / "world").ok
    engine.dispose()
    hub.down = True
    client = app_client(sqlite_url, hub=hub_factory(hub), **FAST, pkh_chunk=2)
    client.headers["Authorization"] = f"Bearer {token}"
    hub.gateway = client
    r = client.post(f"/api/v1/madrasah/{NSM_A}/pkh-request")
    assert r.status_code == 202 and r.headers["location"] == f"/api/v1/pkh-requests/{r.json()['id']}"
    queued = r.json()
    assert queued["status"] == "PENDING" and queued["total"] == 5 and queued["done"] == 0  # active students only
    # asking again while it is pending answers the same request (pressing the button twice queues nothing)
    assert client.post(f"/api/v1/madrasah/{NSM_A}/pkh-request").json()["id"] == queued["id"]
    hub.down = False
    done = wait_until_finished(client, queued["id"])
    assert done["status"] == "DONE" and done["done"] == 5 and done["pending"] == 0
    assert done["outcomes"] == {"PKH_RECIPIENT": 1, "NIK_INVALID": 1, "NOT_REGISTERED": 3}
    assert all(len(call) <= 2 for call in hub.calls)
    page = client.get(f"/api/v1/pkh-requests/{queued['id']}/results", params={"limit": 3}).json()
    assert [a["siswa_id"] for a in page["items"]] == ["siswa-0000", "siswa-0001", "siswa-0002"]
    rest = client.get(f"/api/v1/pkh-requests/{queued['id']}/results", params={"cursor": page["next_cursor"]}).json()
    assert [a["siswa_id"] for a in rest["items"]] == ["siswa-0003", "siswa-0004"] and rest["next_cursor"] is None
    assert all(a["state"] == "DONE" and a["pkh"]["tanggal_sinkron"] for a in page["items"] + rest["items"])
    assert client.post(f"/api/v1/madrasah/{NSM_B}/pkh-request").status_code == 404  # not in this world


def test_a_pending_request_survives_a_restart(app_client: AppFactory, hub: StandInHub, sqlite_url: str,
                                              tmp_path: Path, token: str) -> None:
    seed(sqlite_url, tmp_path / "world", 3)
    hub.down = True
    first = app_client(sqlite_url, hub=hub_factory(hub), **FAST)
    first.headers["Authorization"] = f"Bearer {token}"
    hub.gateway = first
    pending = first.post("/api/v1/siswa/siswa-0002/pkh-request").json()
    assert pending["status"] == "PENDING"
    first.__exit__(None, None, None)  # the gateway stops (the worker with it)
    hub.down = False
    second = app_client(sqlite_url, hub=hub_factory(hub), **FAST)
    second.headers["Authorization"] = f"Bearer {token}"
    hub.gateway = second
    done = wait_until_finished(second, pending["id"])
    assert done["status"] == "DONE" and done["results"][0]["status_pkh"] == "NOT_REGISTERED"


def test_without_a_hub_credential_the_request_waits(app_client: AppFactory, sqlite_url: str, tmp_path: Path,
                                                    token: str) -> None:
    seed(sqlite_url, tmp_path / "world", 1)
    client = app_client(sqlite_url, **FAST)  # no EMIS_HUB_TOKEN
    client.headers["Authorization"] = f"Bearer {token}"
    r = client.post("/api/v1/siswa/siswa-0000/pkh-request")
    assert r.status_code == 202 and "EMIS_HUB_TOKEN" in r.json()["last_error"]


def test_a_refused_credential_keeps_the_request_pending(gateway: TestClient, hub: StandInHub) -> None:
    hub.status = 401
    r = gateway.post("/api/v1/siswa/siswa-0000/pkh-request")
    assert r.status_code == 202 and "refused" in r.json()["last_error"]
    hub.status = 200
    assert wait_until_finished(gateway, r.json()["id"])["status"] == "DONE"


@pytest.mark.parametrize(("method", "path", "params", "status", "field"), [
    ("POST", "/api/v1/siswa/no-such-student/pkh-request", None, 404, "siswa_id"),
    ("POST", "/api/v1/madrasah/12345/pkh-request", None, 422, "nsm"),
    ("POST", "/api/v1/madrasah/999999999999/pkh-request", None, 404, "nsm"),
    ("GET", "/api/v1/pkh-requests/not a uuid", None, 422, "request_id"),
    ("GET", "/api/v1/pkh-requests/00000000-0000-0000-0000-000000000000", None, 404, "request_id"),
    ("GET", "/api/v1/pkh-requests/00000000-0000-0000-0000-000000000000/results", {"cursor": "abc"}, 422, "cursor"),
    ("GET", "/api/v1/pkh-requests/00000000-0000-0000-0000-000000000000/results", {"limit": 0}, 422, "limit"),
    ("GET", "/api/v1/pkh-requests/00000000-0000-0000-0000-000000000000/results", {"halaman": 2}, 422, "halaman"),
])
def test_malformed_input_is_a_4xx_naming_the_field(gateway: TestClient, method: str, path: str,
                                                   params: dict[str, Any] | None, status: int, field: str) -> None:
    r = gateway.request(method, path, params=params)
    assert r.status_code == status, r.text
    assert field in {e["field"] for e in r.json()["errors"]}


def test_pkh_routes_need_a_credential(gateway: TestClient) -> None:
    gateway.headers.pop("Authorization")
    assert gateway.post("/api/v1/siswa/siswa-0000/pkh-request").status_code == 401
    assert gateway.post(f"/api/v1/madrasah/{NSM_A}/pkh-request").status_code == 401


def test_a_madrasah_without_active_students_is_done_at_once(gateway: TestClient, hub: StandInHub) -> None:
    r = gateway.post(f"/api/v1/madrasah/{NSM_B}/pkh-request")
    assert r.status_code == 202 and r.json()["status"] == "DONE" and r.json()["total"] == 0
    assert hub.calls == []


def test_a_retried_request_with_the_same_idempotency_key_asks_the_hub_once(gateway: TestClient,
                                                                            hub: StandInHub) -> None:
    """Issue 13 point 7: a client retrying Request Data PKH (its first answer lost) gets the first answer; the hub
    is asked once; the same key on another student is 422."""
    key = {"Idempotency-Key": "pkh-siswa-0000-1"}
    first = gateway.post("/api/v1/siswa/siswa-0000/pkh-request", headers=key)
    again = gateway.post("/api/v1/siswa/siswa-0000/pkh-request", headers=key)
    assert first.status_code == again.status_code == 200 and again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true" and hub.calls == [["siswa-0000"]]
    other = gateway.post("/api/v1/siswa/siswa-0001/pkh-request", headers=key)
    assert other.status_code == 422 and other.json()["errors"][0]["rule"] == "reused_with_another_request"
    assert hub.calls == [["siswa-0000"]]
    assert gateway.post("/api/v1/siswa/siswa-0000/pkh-request").status_code == 200  # no key: asked again
    assert hub.calls == [["siswa-0000"], ["siswa-0000"]]


@pytest.fixture
def mixed(app_client: AppFactory, hub: StandInHub, db_url: str, tmp_path: Path) -> TestClient:
    """The app on either database: three students of a madrasah and a santri of a pesantren in another region;
    the stand-in hub keeps every body it is sent."""
    world = write_world(tmp_path / "world", [madrasah(NSM_A), madrasah(NSM_B, jenjang="MTs")],
                        [siswa(i) for i in range(3)])
    (world / "pesantren.jsonl").write_text(json.dumps({"nspp": NSPP, "nama": "PP Al-Hikmah", "status": "SWASTA",
                                                       "kode_wilayah": "3301020003"}) + "\n")
    santri = {**siswa(20), "nspp": NSPP}
    santri.pop("nsm")
    (world / "santri.jsonl").write_text(json.dumps(santri) + "\n")
    migrate(MIGRATIONS, db_url)
    engine = make_engine(db_url)
    assert load_world(engine, world).ok
    engine.dispose()
    client = app_client(db_url, hub=hub_factory(hub), pkh_worker=False,
                        api_tokens={"operator": "operator-token-0123456789"})
    client.headers["Authorization"] = "Bearer operator-token-0123456789"
    return client


def test_the_answer_of_a_press_is_what_the_request_reads_back(mixed: TestClient, hub: StandInHub) -> None:
    """The one-student press answers from what its transaction wrote (not a read after it): the same body as
    ``GET /api/v1/pkh-requests/{id}`` then, whether values were written, were already held, or the hub refused;
    the hub was sent each record as the API shows it, with its institution's region (a santri's pesantren)."""
    for sid, status in (("siswa-0000", 200), ("siswa-0000", 200), ("siswa-0020", 200), ("siswa-0001", 400)):
        before = mixed.get(f"/api/v1/siswa/{sid}").json()
        hub.status = status
        r = mixed.post(f"/api/v1/siswa/{sid}/pkh-request")
        assert r.status_code == 200, r.text
        assert r.json() == mixed.get(f"/api/v1/pkh-requests/{r.json()['id']}").json()
        assert r.json()["status"] == ("DONE" if status == 200 else "FAILED")
        [sent] = hub.bodies[-1]["siswa"]
        assert sent == before
        assert hub.bodies[-1]["kode_wilayah"] == {sid: "3301020003" if sid == "siswa-0020" else "3201010001"}
    assert mixed.get("/api/v1/siswa/siswa-0020").json()["nspp"] == NSPP


def test_a_press_whose_student_the_worker_answered_meanwhile_reads_the_request_back(
        mixed: TestClient, hub: StandInHub) -> None:
    """While the press asks the hub its lease can run out and the worker answer the student first: the press
    then writes nothing over that answer and reads the finished request back."""
    def worker_answers_first() -> None:
        with mixed.app.state.engine.begin() as conn:
            conn.execute(sa.update(ITEM).values(state="DONE", outcome="NOT_REGISTERED", detail="by the worker",
                                                matched_by="nik_ibu", sync_run_id="check-worker",
                                                answered_at=datetime.now(UTC)))

    hub.meanwhile = worker_answers_first
    r = mixed.post("/api/v1/siswa/siswa-0000/pkh-request")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "DONE" and body["done"] == 1 and body["outcomes"] == {"NOT_REGISTERED": 1}
    assert body["results"][0]["keterangan_pkh"] == "by the worker"
    assert body == mixed.get(f"/api/v1/pkh-requests/{body['id']}").json()


def test_presses_done_together_are_answered_each_as_alone(mixed: TestClient, hub: StandInHub) -> None:
    """Presses asked at once go through one transaction, one call to the hub and one transaction for the answers
    (``PkhRequests._request_many``); each press is answered as it would have been alone: the body its request
    reads back, values written where the hub sent some, a student not found or outside the caller's scope failing
    only its own press."""
    from services.emis_gateway.access import Principal
    from shared.errors import NotFound

    requests = mixed.app.state.pkh
    operator = Principal("operator")
    scoped = Principal("school", frozenset({NSM_B}))  # sees none of NSM_A's students
    presses = [("siswa-0000", operator), ("siswa-9999", operator), ("siswa-0001", scoped), ("siswa-0002", operator),
               ("siswa-0020", operator)]
    answers = requests._request_many(presses)
    assert hub.calls == [["siswa-0000", "siswa-0002", "siswa-0020"]]  # one call for the presses asked
    assert isinstance(answers[1], NotFound) and isinstance(answers[2], NotFound)
    for (sid, _), answer in zip(presses, answers, strict=True):
        if isinstance(answer, Exception):
            continue
        body = answer.model_dump(mode="json")
        assert body == mixed.get(f"/api/v1/pkh-requests/{answer.id}").json()
        assert body["status"] == "DONE" and body["siswa_id"] == sid and body["requested_by"] == "operator"
    assert answers[0].results[0].pkh.penerima_pkh is True  # written by this press, shown in its answer
    assert mixed.get("/api/v1/siswa/siswa-0000").json()["pkh"]["penerima_pkh"] is True
    # the registry down: every press of the batch is PENDING (202 path), kept for the worker, its lease let go
    hub.down = True
    pending = requests._request_many([("siswa-0000", operator), ("siswa-0002", operator)])
    assert [p.status.value for p in pending] == ["PENDING", "PENDING"]
    with mixed.app.state.engine.connect() as conn:
        leases = conn.execute(sa.text("SELECT lease_until FROM pkh_request WHERE id IN (:a, :b)"),
                              {"a": pending[0].id, "b": pending[1].id}).scalars().all()
    assert leases == [None, None]
    # the hub refusing a batch for one of its records: each press asked again alone, each its own answer
    hub.down, hub.status = False, 400
    calls = len(hub.calls)
    refused = requests._request_many([("siswa-0000", operator), ("siswa-0002", operator)])
    assert hub.calls[calls:] == [["siswa-0000", "siswa-0002"], ["siswa-0000"], ["siswa-0002"]]
    assert [r.status.value for r in refused] == ["FAILED", "FAILED"]
    assert all(r.model_dump(mode="json") == mixed.get(f"/api/v1/pkh-requests/{r.id}").json() for r in refused)


def test_presses_done_together_whose_students_the_worker_answered_meanwhile_read_their_requests_back(
        mixed: TestClient, hub: StandInHub) -> None:
    """The batch's form of the test above: each press writes nothing over the worker's answer and reads its
    finished request back."""
    from services.emis_gateway.access import Principal

    def worker_answers_first() -> None:
        with mixed.app.state.engine.begin() as conn:
            conn.execute(sa.update(ITEM).values(state="DONE", outcome="NOT_REGISTERED", detail="by the worker",
                                                matched_by="nik_ibu", sync_run_id="check-worker",
                                                answered_at=datetime.now(UTC)))

    hub.meanwhile = worker_answers_first
    answers = mixed.app.state.pkh._request_many([("siswa-0000", Principal("operator")),
                                                 ("siswa-0002", Principal("operator"))])
    assert len(hub.calls) == 1
    for answer in answers:
        body = answer.model_dump(mode="json")
        assert body["status"] == "DONE" and body["outcomes"] == {"NOT_REGISTERED": 1}
        assert body["results"][0]["keterangan_pkh"] == "by the worker"
        assert body == mixed.get(f"/api/v1/pkh-requests/{body['id']}").json()
