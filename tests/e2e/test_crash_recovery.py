"""Nothing lost, nothing done twice: the hub's workers and its API killed with -9 at random moments of a run.

Four services as processes on real sockets, the hub on PostgreSQL with its job queue, two worker processes.
A reference system syncs the same world without interruption. The system under test syncs while a random
process (a worker, or the hub's API) is killed at a random moment, again and again (at least 10 kills across
planning, units deciding and units pushing), and started again; then runs until one succeeds. Its final state
must equal the reference: every student's outcome, every value the hub wrote at both gateways, and for every
value a gateway holds, the hub's provenance row under the id the gateway shows. No outbox row stays PENDING, no
run stays RUNNING. The education verifications the hub sent Kemensos are the reference's (the same facts for the
same children, none left PENDING), and the registry received each one once: a verification unit killed after
sending and before recording the answer sends the same item again, which the registry answers UNCHANGED.
The same final state when the registry fails often, and when the hub's database ends every connection again and
again during a run (which must then succeed: a lost connection is tried again, it is no failure).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from jembatan.stack import Stack
from shared.clients import DapodikClient, EmisClient, HubClient
from shared.contracts.dapodik import DAPODIK_HUB_FIELDS
from shared.contracts.emis import EMIS_HUB_FIELDS
from shared.contracts.hub import RunStatus, SyncRunCreate
from shared.db import make_engine
from shared.testing import fresh_postgres_database, terminate_all_but
from worldgen.config import WorldConfig
from worldgen.generate import generate_world

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

# the registry replica's first load and each full read of a gateway's feed are read as ranges (``replica.ranged``,
# ``sync.feed_ranges``: range jobs on the workers, the plan and the API's follower reading what nobody holds), so
# the kills and the registry's faults meet them too
HUB_ENV = {"HUB_STALLED_AFTER": "5", "HUB_UNIT_MAX_STUDENTS": "120", "HUB_PUSH_BATCH": "40",
           "HUB_JOB_RETRY_WAIT": "0.5", "HUB_REPLICA_LOAD_RANGE_VERSIONS": "150", "HUB_FEED_READ_RANGE_RECORDS": "60"}
KILLS = 10
# at most this many kills in a row in one phase: both workers killed again and again (each back only after its
# start-up, its jobs only after their heartbeat stalled) could hold a run in its plan for all ten
PER_PHASE = 3
ENDS = 12  # times the hub's database ends every connection of the hub's processes during one run


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("world")
    generate_world(WorldConfig(seed=20261203, n_families=900), out)
    return out


def _stack(workdir: Path, world: Path, hub_url: str, registry_faults: dict[str, object] | None = None) -> Stack:
    extra = {"sync_hub": HUB_ENV}
    if registry_faults:
        extra["kemensos_mock"] = {"KEMENSOS_FAULTS": json.dumps(registry_faults)}
    s = Stack.on_free_ports(workdir, database_urls={"sync_hub": hub_url}, hub_workers=2, extra_env=extra)
    s.load_world(world)
    s.start()
    return s


@pytest.fixture(scope="module")
def hub_databases() -> Iterator[tuple[str, str, str]]:
    with fresh_postgres_database() as reference, fresh_postgres_database() as chaos, \
            fresh_postgres_database() as faults, fresh_postgres_database() as ended:
        yield reference, chaos, faults, ended


@pytest.fixture(scope="module")
def reference(world: Path, hub_databases, tmp_path_factory) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """The final state of a system that syncs the world without interruption."""
    url = hub_databases[0]
    with _stack(tmp_path_factory.mktemp("reference"), world, url) as ref:
        with HubClient(ref.url("sync_hub"), ref.hub_operator) as hub:
            _until_success(hub)
            _until_success(hub)
        state = {"held": _held(ref), **_hub_state(url)}
    assert state["outcomes"] and state["held"]
    return state


def _held(stack: Stack) -> dict[tuple[str, str, str], tuple[Any, str | None]]:
    """Every hub-written value at both gateways: (system, student, field) -> (value, provenance id shown)."""
    out: dict[tuple[str, str, str], tuple[Any, str | None]] = {}
    with EmisClient(stack.url("emis_gateway"), stack.creds.hub_to_emis) as emis:
        for s in emis.iter_students(1000):
            prov = {p.field: p.provenance_id for p in s.provenance}
            values = {f: getattr(s.pkh, f) for f in EMIS_HUB_FIELDS}
            values["status_pkh"] = s.pkh.status_pkh.value if s.pkh.status_pkh else None
            for f, v in values.items():
                if f in prov:
                    out[("emis", s.siswa_id, f)] = (v, prov[f])
    with DapodikClient(stack.url("dapodik_gateway"), stack.creds.hub_to_dapodik) as dapodik:
        for p in dapodik.iter_students(1000):
            prov = {x.field: x.provenance_id for x in p.provenance}
            values = {f: getattr(p, f) for f in DAPODIK_HUB_FIELDS}
            values["status_padan"] = p.status_padan.value if p.status_padan else None
            for f, v in values.items():
                if f in prov:
                    out[("dapodik", p.peserta_didik_id, f)] = (v, prov[f])
    return out


def _hub_state(url: str) -> dict[str, Any]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            outcomes = {(r[0], r[1]): r[2] for r in conn.execute(sa.text(
                "SELECT system, student_id, outcome FROM student_status"))}
            provenance = {(r[0], r[1]): r[2] for r in conn.execute(sa.text(
                "SELECT provenance_id, field, value_json FROM provenance"))}
            pending = conn.execute(sa.text("SELECT count(*) FROM outbox_item WHERE status = 'PENDING'")).scalar()
            verified = {(r[0], r[1]): (r[2], r[3]) for r in conn.execute(sa.text(
                "SELECT nik_anak, periode, facts_hash, status FROM education_verification"))}
            open_runs = conn.execute(sa.text(
                "SELECT count(*) FROM sync_run WHERE status IN ('QUEUED', 'RUNNING')")).scalar()
            # each ranged first load of the replica: finished, in more than one range
            ranged_load = [r[0] is not None and r[1] > 1 for r in conn.execute(sa.text(
                "SELECT finished_at, ranges FROM replica_load"))]
            ranged_feeds = {r[0] for r in conn.execute(sa.text(
                "SELECT system FROM feed_read WHERE finished_at IS NOT NULL AND ranges > 1"))}
    finally:
        engine.dispose()
    return {"outcomes": outcomes, "provenance": provenance, "pending": pending, "open_runs": open_runs,
            "verified": verified, "ranged_load": ranged_load, "ranged_feeds": ranged_feeds}


def _until_success(hub: HubClient, first: str | None = None, timeout: float = 600) -> None:
    run_id = first or hub.start_run().id
    for _ in range(5):
        run = hub.wait(run_id, timeout=timeout, poll=0.2)
        if run.status is RunStatus.SUCCEEDED:
            return
        run_id = hub.start_run().id
    raise AssertionError(f"no run succeeded: last {run.status} {run.errors}")


def _compare(stack: Stack, hub_url: str, reference: dict[str, Any]) -> None:
    held = _held(stack)
    state = _hub_state(hub_url)
    assert state["pending"] == 0, "outbox rows left PENDING"
    assert state["ranged_load"] and all(state["ranged_load"]), "the replica's first load was not read as ranges"
    assert state["ranged_feeds"] >= {"emis", "dapodik"}, "the first full read of each feed was not read as ranges"
    assert state["open_runs"] == 0, "runs left QUEUED or RUNNING"
    assert state["outcomes"] == reference["outcomes"]
    assert {k: v for k, (v, _) in held.items()} == {k: v for k, (v, _) in reference["held"].items()}

    lost = [(k, pid) for k, (v, pid) in held.items() if json.loads(state["provenance"].get((pid, k[2]), "null"
                                                                                          ) or "null") != v
            or (pid, k[2]) not in state["provenance"]]
    assert not lost, f"{len(lost)} value(s) held at a gateway without their provenance at the hub: {lost[:5]}"

    assert state["verified"], "no education verification sent"
    assert {k: h for k, (h, _) in state["verified"].items()} == {k: h for k, (h, _) in reference["verified"].items()}
    # settled: a unit killed between sending and recording sends its rows again and the registry answers UNCHANGED
    # for what it already stored (sync/verify.py); what it holds is the same facts (the hashes above)
    assert {st for _, st in state["verified"].values()} <= {"APPLIED", "UNCHANGED"}, "verifications not settled"
    # what the registry stored (read from its database: its API may be the one failing on purpose)
    registry = make_engine(stack.database_url("kemensos_mock"))
    try:
        with registry.connect() as conn:
            received = dict(conn.execute(sa.text(  # type: ignore[arg-type]
                "SELECT nik_anak || ' ' || periode, count(*) FROM verifikasi_pendidikan_riwayat "
                "GROUP BY nik_anak, periode")).all())
    finally:
        registry.dispose()
    assert received == {f"{nik} {periode}": 1 for nik, periode in state["verified"]}, "not received exactly once"


def test_killed_workers_and_hub_lose_nothing_and_do_nothing_twice(world: Path, hub_databases, reference,
                                                                   tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    chaos_url = hub_databases[1]
    rng = random.Random(20261203)
    kills: list[str] = []
    with _stack(tmp_path_factory.mktemp("chaos"), world, chaos_url) as s, \
            HubClient(s.url("sync_hub"), s.hub_operator) as hub:
        run_id = hub.start_run().id
        deadline = time.monotonic() + 900
        while len(kills) < KILLS and time.monotonic() < deadline:
            time.sleep(rng.uniform(0.2, 2.0))
            try:
                phase = _phase(hub, run_id)
            except Exception:  # the hub's API may be the one restarting
                phase = "unknown"
            recent = kills[-PER_PHASE:]
            if len(recent) == PER_PHASE and all(k.endswith(f"@{phase}") for k in recent):
                continue  # the kills are to meet every phase of a run: let this one end first
            victims = [n for n in s.procs if n.startswith("sync_hub_worker")] + ["sync_hub"]
            victim = rng.choice(victims)
            s.kill(victim)
            kills.append(f"{victim}@{phase}")
            if victim == "sync_hub":
                s.restart("sync_hub")
            else:
                s.start_worker()
            run = hub.get_run(run_id)
            if run.status not in (RunStatus.QUEUED, RunStatus.RUNNING):  # this run ended: give the next one work
                run_id = hub.start_run(SyncRunCreate(full=True)).id
        assert len(kills) >= KILLS, kills
        _until_success(hub, run_id)
        _until_success(hub)
        _compare(s, chaos_url, reference)
    phases = {k.split("@")[1] for k in kills}
    assert len(phases) >= 2, f"kills did not cover the phases of a run: {kills}"


def test_a_registry_failing_often_changes_nothing_in_the_end(world: Path, hub_databases, reference,
                                                             tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    """The registry answers 20 % 5xx, 5 % timeouts (504 after hanging) and 429 bursts: calls are retried, jobs
    are tried again later, and the final state equals the uninterrupted system's."""
    faults = {"error_rate": 0.2, "timeout_rate": 0.05, "timeout_s": 0.5, "rate_limit_rate": 0.1,
              "retry_after_s": 1, "seed": 7}
    url = hub_databases[2]
    with _stack(tmp_path_factory.mktemp("faults"), world, url, registry_faults=faults) as s, \
            HubClient(s.url("sync_hub"), s.hub_operator) as hub:
        _until_success(hub)
        _until_success(hub)
        _compare(s, url, reference)
        answers = [httpx.get(f"{s.url('kemensos_mock')}/api/v1/kip", params={"limit": 1}, timeout=5,
                             headers={"Authorization": f"Bearer {s.creds.hub_to_kemensos}"}) for _ in range(30)]
        assert any("X-Injected-Fault" in r.headers for r in answers)  # the registry was failing all along


def test_the_hubs_database_ending_its_connections_again_and_again_fails_no_run(
        world: Path, hub_databases, reference, tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    """The hub's PostgreSQL ends every connection of the hub's processes at random moments of a run (as a restart or
    a failover does): the jobs whose connection was lost are tried again, and the run itself succeeds, with the
    reference's final state. Before, a verification unit whose connection ended failed its run."""
    url = hub_databases[3]
    database = sa.engine.make_url(url).database or ""
    rng = random.Random(20261205)
    ended: list[str] = []
    with _stack(tmp_path_factory.mktemp("ended"), world, url) as s, \
            HubClient(s.url("sync_hub"), s.hub_operator) as hub:
        run_id = hub.start_run().id
        deadline = time.monotonic() + 600
        while len(ended) < ENDS and time.monotonic() < deadline:
            time.sleep(rng.uniform(0.3, 1.5))
            try:
                phase = _phase(hub, run_id)
            except Exception:  # the API's own connection may be the one just ended: a 503
                phase = "unknown"
            if phase == "over":
                break
            if terminate_all_but(database):
                ended.append(phase)
        run = hub.wait(run_id, timeout=600, poll=0.5)
        assert run.status is RunStatus.SUCCEEDED, (run.status, run.errors, ended)
        assert len(ended) >= 5, f"the run ended before the database had ended enough connections: {ended}"
        _until_success(hub)
        _compare(s, url, reference)


def _phase(hub: HubClient, run_id: str) -> str:
    run = hub.get_run(run_id)
    if run.status not in (RunStatus.QUEUED, RunStatus.RUNNING):
        return "over"
    if run.progress is None:
        return "planning"
    if run.progress.units_done == 0:
        return "units-started"
    if run.progress.verification_units_total:
        return "verifying"
    return "units-half" if run.progress.units_done < run.progress.units_total else "closing"
