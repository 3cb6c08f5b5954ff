"""Request Data PKH on real sockets: operators press the button concurrently through both gateways.

Four service processes on SQLite and on PostgreSQL, a generated world and no sync run: every value the
students end up with is written by the checks. 20 operator threads press Request Data PKH for every student
of both gateways at once (EMIS ``POST /api/v1/siswa/{id}/pkh-request``, Dapodik ``POST
/api/v1/peserta-didik/{id}/pkh-request``). Nothing may fail; every answer is what the student then holds;
every PKH value written equals the world's ground truth; every value a check wrote has its provenance at the
hub (``GET /api/v1/provenance``), naming the check.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from jembatan.evaluate import evaluate_world
from jembatan.stack import SERVICES, Stack
from shared.clients import DapodikClient, EmisClient, HubClient
from shared.contracts.hub import SourceSystem
from shared.testing import service_databases
from worldgen.config import WorldConfig
from worldgen.generate import generate_world

pytestmark = pytest.mark.e2e
OPERATORS = 20


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("checks_world")
    generate_world(WorldConfig(seed=20261203, n_families=150), out)
    return out


@pytest.fixture(params=["sqlite", "postgres"])
def stack(request: pytest.FixtureRequest, world: Path, tmp_path: Path) -> Iterator[Stack]:
    with ExitStack() as ctx:
        urls = service_databases(ctx, request.param, SERVICES)
        yield ctx.enter_context(Stack.on_free_ports(tmp_path, database_urls=urls, log_level="INFO")
                                .serving(world, clean_stop=True))


def _ready(stack: Stack, siswa_id: str, timeout: float = 120.0) -> None:
    """The hub's replica follower has read the registry: a check is answered (not PENDING)."""
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=stack.url("emis_gateway"),
                      headers={"Authorization": f"Bearer {stack.creds.operator}"}, timeout=60) as c:
        while True:
            r = c.post(f"/api/v1/siswa/{siswa_id}/pkh-request")
            assert r.status_code in (200, 202), r.text
            if r.json()["status"] == "DONE":
                return
            assert time.monotonic() < deadline, "the hub's replica never became ready"
            time.sleep(0.5)


def test_operators_pressing_at_once_get_true_answers_with_provenance(stack: Stack, world: Path) -> None:
    op = stack.creds.operator
    with EmisClient(stack.url("emis_gateway"), op) as emis, DapodikClient(stack.url("dapodik_gateway"), op) as dap:
        siswa = [s.siswa_id for s in emis.iter_students()]
        pd = [p.peserta_didik_id for p in dap.iter_students()]
    _ready(stack, siswa[0])
    presses = [("emis", i) for i in siswa] + [("dapodik", i) for i in pd]
    random.Random(7).shuffle(presses)  # both gateways at once

    def press(client: httpx.Client, system: str, sid: str) -> tuple[str, str, int, dict]:  # type: ignore[type-arg]
        path = f"/api/v1/siswa/{sid}/pkh-request" if system == "emis" else f"/api/v1/peserta-didik/{sid}/pkh-request"
        r = client.post(path)
        return system, sid, r.status_code, r.json()

    clients = [httpx.Client(base_url=stack.url("emis_gateway"), headers={"Authorization": f"Bearer {op}"},
                            timeout=120) for _ in range(OPERATORS)]
    dclients = [httpx.Client(base_url=stack.url("dapodik_gateway"), headers={"Authorization": f"Bearer {op}"},
                             timeout=120) for _ in range(OPERATORS)]
    try:
        with ThreadPoolExecutor(OPERATORS) as pool:
            answers = list(pool.map(
                lambda n_p: press((clients if n_p[1][0] == "emis" else dclients)[n_p[0] % OPERATORS], *n_p[1]),
                enumerate(presses)))
    finally:
        for c in clients + dclients:
            c.close()
    failed = [(s, i, code, body) for s, i, code, body in answers if code not in (200, 202)]
    assert failed == [], (failed[:5], stack.problems())
    # EMIS keeps a request PENDING (202) when the hub did not answer in time (a loaded machine) and its worker asks
    # again: pressed again later, it is answered; Dapodik has no queue, every press is answered (200) or refused
    assert all(code == 200 for s, _, code, _ in answers if s == "dapodik")
    settled = []
    for s, sid, code, body in answers:
        if s == "emis" and body["status"] != "DONE":
            _ready(stack, sid)
            with httpx.Client(base_url=stack.url("emis_gateway"), headers={"Authorization": f"Bearer {op}"},
                              timeout=60) as c:
                body = c.post(f"/api/v1/siswa/{sid}/pkh-request").json()
            code = 200
        settled.append((s, sid, code, body))
    answers = settled
    with EmisClient(stack.url("emis_gateway"), op) as emis, DapodikClient(stack.url("dapodik_gateway"), op) as dap, \
            HubClient(stack.url("sync_hub"), stack.hub_operator) as hub:
        ev = evaluate_world(world, emis, dap)
        assert ev.students == len(siswa) + len(pd)  # the feed's records: held back by validation or not
        assert ev.without_outcome == 0 and ev.not_listed == 0, ev.without_outcome_examples
        assert ev.pkh_wrong == 0 and ev.correct_key_wrong == 0, ev.wrong_examples
        assert ev.written_without_provenance == 0 and ev.pkh_written > 0
        assert hub.list_runs().items == []  # no sync run: every value came from a check
        checked = 0
        for system, sid, _, body in answers:
            record = emis.get_student(sid) if system == "emis" else dap.get_student(sid)
            if system == "emis":  # the answer is what the student holds now
                [result] = body["results"]
                assert result["status_pkh"] == (record.pkh.status_pkh.value if record.pkh.status_pkh else None)
            else:
                assert body["status_padan"] == (record.status_padan.value if record.status_padan else None)
            held = {(p.sync_run_id, p.field, json.dumps(p.value)) for p in hub.provenance(SourceSystem(system), sid)}
            for p in record.provenance:  # every value a check wrote: its provenance is at the hub
                assert (p.sync_run_id, p.field, json.dumps(p.value)) in held, (system, p.field)
                checked += 1
        assert checked > 0
