"""Request Data PKH end to end, in process: the EMIS gateway sends the student's record to the real hub, which
decides from its replica of the real Kemensos mock (kept current by its follower) and answers with the values
to write; the gateway writes them with their provenance before it answers. While the hub is unreachable the
request is PENDING, and it is completed once the hub is back; the registry being down does not stop a check.
Answers are checked against the world's ground truth.
"""

from __future__ import annotations

import shutil
import time
import warnings
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette prefers httpx2 at import; the project pins httpx
    from fastapi.testclient import TestClient

from jembatan.evaluate import evaluate, observe
from jembatan.stack import Stack
from services.dapodik_gateway.config import Settings as DapodikSettings
from services.dapodik_gateway.main import create_app as dapodik_app
from services.emis_gateway.config import Settings as EmisSettings
from services.emis_gateway.main import create_app as emis_app
from services.kemensos_mock.config import Settings as KemensosSettings
from services.kemensos_mock.main import create_app as kemensos_app
from services.sync_hub.config import Settings as HubSettings
from services.sync_hub.main import create_app as hub_app
from services.sync_hub.replica import service as replica
from services.sync_hub.upstreams import Upstreams
from shared.clients import DapodikClient, EmisClient, HubClient, KemensosClient
from shared.contracts.emis import PkhAnswerState, PkhRequest, PkhRequestStatus
from shared.http import RetryPolicy
from shared.testing import new_token
from worldgen.config import WorldConfig
from worldgen.generate import generate_world
from worldgen.truth import read_ground_truth

BASE = "http://testserver"


class Switch(httpx.BaseTransport):
    """A way to an in-process app (the hub's to the Kemensos mock, the gateway's to the hub), with a switch
    that makes it unreachable."""

    def __init__(self, client: TestClient | None = None) -> None:
        self.client, self.down = client, False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("unreachable (test)", request=request)
        assert self.client is not None
        r = self.client.send(request)
        return httpx.Response(r.status_code, headers=r.headers, content=r.content)


@dataclass
class System:
    operator: EmisClient  # the operator's view of the EMIS gateway
    registry: Switch
    hub: Switch  # the gateway's way to the hub
    world: Path


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Stack]:
    root = tmp_path_factory.mktemp("emis_pkh")
    generate_world(WorldConfig(seed=11, n_families=60), root / "world")
    stack = Stack(root)
    stack.load_world(root / "world")
    return root / "world", stack


@pytest.fixture
def system(loaded: tuple[Path, Stack], tmp_path: Path) -> Iterator[System]:
    world, template = loaded
    shutil.copytree(template.workdir / "db", tmp_path / "db")
    stack = Stack(tmp_path, creds=template.creds)
    c, emis_to_hub = stack.creds, new_token()
    with ExitStack() as ctx:
        kemensos = ctx.enter_context(TestClient(kemensos_app(KemensosSettings(
            database_url=stack.database_url("kemensos_mock"), api_tokens={"sync_hub": c.hub_to_kemensos})),
            base_url=BASE))
        dapodik = ctx.enter_context(TestClient(dapodik_app(DapodikSettings(
            database_url=stack.database_url("dapodik_gateway"), api_tokens={"sync_hub": c.hub_to_dapodik})),
            base_url=BASE))
        to_hub = Switch()
        gateway_app = emis_app(
            EmisSettings(database_url=stack.database_url("emis_gateway"), pkh_poll_seconds=0.05,
                         pkh_retry_base_seconds=0.05, pkh_retry_cap_seconds=0.3,
                         api_tokens={"sync_hub": c.hub_to_emis, "operator": c.operator}),
            hub=lambda _: HubClient(BASE, emis_to_hub, http=httpx.Client(base_url=BASE, transport=to_hub),
                                    retry=RetryPolicy(attempts=1)))
        gateway = TestClient(gateway_app, base_url=BASE)
        registry = Switch(kemensos)
        ups = Upstreams(
            KemensosClient(BASE, c.hub_to_kemensos, http=httpx.Client(base_url=BASE, transport=registry),
                           retry=RetryPolicy(attempts=1)),
            EmisClient(BASE, c.hub_to_emis, http=gateway), DapodikClient(BASE, c.hub_to_dapodik, http=dapodik))
        to_hub.client = ctx.enter_context(TestClient(hub_app(HubSettings(
            database_url=f"sqlite:///{tmp_path / 'hub.db'}", local_key_dir=tmp_path / "keys",
            api_tokens={"emis_gateway": emis_to_hub}), upstreams=ups), base_url=BASE))
        replica.refresh(to_hub.client.app.state.engine, ups.kemensos)  # the follower's first round, done now
        ctx.enter_context(gateway)
        operator = EmisClient(BASE, c.operator, http=TestClient(gateway_app, base_url=BASE))
        yield System(operator, registry, to_hub, world)


def wait(client: EmisClient, request_id: str, timeout: float = 120.0) -> PkhRequest:
    deadline = time.monotonic() + timeout
    while True:
        req = client.get_pkh_request(request_id)
        if req.status is not PkhRequestStatus.PENDING or time.monotonic() > deadline:
            return req
        time.sleep(0.05)


def test_request_while_the_hub_is_unreachable_is_pending_then_completed(system: System) -> None:
    op = system.operator
    student = next(s for s in op.iter_students() if s.nik or s.nik_ibu)
    system.hub.down = True
    pending = op.request_pkh(student.siswa_id)
    assert pending.status is PkhRequestStatus.PENDING and pending.last_error
    [answer] = pending.results
    assert answer.state is PkhAnswerState.PENDING and answer.status_pkh is not None
    assert answer.status_pkh.value == "PENDING"
    assert op.get_student(student.siswa_id).pkh.status_pkh is None  # nothing written while down
    system.hub.down = False
    done = wait(op, pending.id)
    assert done.status is PkhRequestStatus.DONE, done
    [answer] = done.results
    assert answer.state is PkhAnswerState.DONE and answer.status_pkh is not None and answer.sync_run_id
    stored = op.get_student(student.siswa_id)
    assert stored.pkh.status_pkh == answer.status_pkh  # saved in the same step, with provenance
    assert stored.pkh.tanggal_sinkron is not None and answer.pkh == stored.pkh
    assert {p.sync_run_id for p in stored.provenance} == {answer.sync_run_id}


def test_request_for_a_madrasah_answers_every_student_as_the_ground_truth_says(system: System) -> None:
    op = system.operator
    nsm = op.list_madrasah().items[0].nsm
    queued = op.request_pkh_madrasah(nsm)
    assert queued.status is PkhRequestStatus.PENDING and queued.total > 0
    done = wait(op, queued.id)
    assert done.status is PkhRequestStatus.DONE and done.done == done.total == queued.total, done
    answers, cursor = [], None
    while True:
        page = op.pkh_request_results(done.id, cursor, limit=50)
        answers += page.items
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert len(answers) == done.total and sum(done.outcomes.values()) == done.total
    for a in answers:  # every answer says why, and what it says is what the student now holds
        assert a.state is PkhAnswerState.DONE and a.status_pkh is not None and a.pkh is not None
        assert a.pkh.status_pkh == a.status_pkh
    asked = {a.siswa_id for a in answers}
    truth = [t for t in read_ground_truth(system.world / "ground_truth.jsonl")
             if t.system == "emis" and t.student_id in asked]
    observed = {key: o for key, o in observe(op, _NoDapodik()).items() if key[1] in asked}
    ev = evaluate(truth, observed)
    assert ev.students == len(asked)
    assert ev.pkh_wrong == 0 and ev.correct_key_wrong == 0, ev.wrong_examples
    assert ev.written_without_provenance == 0


class _NoDapodik:
    def iter_peserta_didik(self, limit: int = 500) -> Iterator[object]:
        return iter(())


def test_the_registry_being_down_does_not_stop_a_check(system: System) -> None:
    """A check decides from the hub's replica as stored: it never reads the registry itself."""
    op = system.operator
    student = next(s for s in op.iter_students() if s.nik or s.nik_ibu)
    system.registry.down = True
    answer = op.request_pkh(student.siswa_id)
    assert answer.status is PkhRequestStatus.DONE, answer
    [result] = answer.results
    stored = op.get_student(student.siswa_id)
    assert stored.pkh.status_pkh == result.status_pkh and result.sync_run_id
    assert {p.sync_run_id for p in stored.provenance} <= {result.sync_run_id}
