"""CPU time of one "Request Data PKH" press, gateway and hub together, in one process.

    .venv/bin/python bench/bench_checks_cpu.py [--families 1000] [--presses 300] [--repeat 3] [--db sqlite|postgres]
        [--gateway emis|dapodik] [--batch N]

One generated world (``worldgen``, seed 7) loaded as ``jembatan.stack`` loads it; the Kemensos mock, the EMIS
gateway and the hub run in this process as ASGI apps (Starlette's ``TestClient``), the gateway reaching the hub
through an in-process transport, as ``tests/test_emis_pkh_in_process.py`` wires them; the hub's replica is read
whole first. Then ``--presses`` presses of Request Data PKH (EMIS ``POST /api/v1/siswa/{id}/pkh-request``), one
after another, each for a random student, ``--repeat`` times; reported: the process's CPU time per press
(plus a digest of the answers: the same on two checkouts unless a decision changed)
(``time.process_time``: every thread, so the gateway's and the hub's work and the SQLite engine's, not the
PostgreSQL server's) and wall time per press, median of the repeats; then CPU per press split by whether the hub's
fallback ran for it (the student's keys left it undecided) or not. Less sensitive to other load on the machine
than the load benchmark's wall times (``bench_checks_load.py``). With ``--db postgres`` the gateway and the hub
each get a fresh database on 127.0.0.1:5432 (dropped at the end). Run it under ``py-spy record -- ...`` to see
where the time goes. No test asserts any figure.

``--gateway dapodik`` presses Dapodik's ``POST /api/v1/peserta-didik/{id}/pkh-request`` instead (the Dapodik gateway
in process in place of EMIS's). ``--batch N`` sends the presses N at a time: N threads press N distinct students
together and wait for each other before the next N, so the gateway's ``shared.batching.Batches`` groups them as it
groups operators pressing at once (a lone press is not held, so N presses make batches of 1 to N: the sizes seen are
printed); CPU per press is then the process's CPU over all of them, and the hub's part is the CPU spent while a
check was out, which in a batch includes what the other threads did meanwhile (an upper bound). The answers digest
is over every answer in press order, so it is the same whatever the batches.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import statistics
import tempfile
import threading
import time
import uuid
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import sqlalchemy as sa

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from jembatan.stack import Stack
from services.dapodik_gateway.config import Settings as DapodikSettings
from services.dapodik_gateway.main import create_app as dapodik_app
from services.dapodik_gateway.pkh import service as dapodik_pkh
from services.emis_gateway.config import Settings as EmisSettings
from services.emis_gateway.main import create_app as emis_app
from services.emis_gateway.pkh.service import PkhRequests
from services.kemensos_mock.config import Settings as KemensosSettings
from services.kemensos_mock.main import create_app as kemensos_app
from services.sync_hub.config import Settings as HubSettings
from services.sync_hub.main import create_app as hub_app
from services.sync_hub.replica import service as replica
from services.sync_hub.upstreams import Upstreams
from shared.clients import DapodikClient, EmisClient, HubClient, KemensosClient
from shared.http import RetryPolicy
from shared.testing import PG_ADMIN_URL, new_token
from worldgen.config import WorldConfig
from worldgen.generate import generate_world

BASE = "http://testserver"


class Through(httpx.BaseTransport):
    """The gateway's way to the in-process hub."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        c0 = time.process_time()  # the gateway's thread waits meanwhile: the process's CPU is the hub's
        r = self.client.send(request)
        HUB_CPU[0] += time.process_time() - c0
        return httpx.Response(r.status_code, headers=r.headers, content=r.content)


HUB_CPU = [0.0]  # CPU seconds spent while the hub answered the gateway (the in-process transport included)


@contextmanager
def databases(db: str, root: Path, gateway: str = "emis_gateway") -> Iterator[dict[str, str]]:
    """The gateway's and the hub's database URLs (SQLite files under ``root``, or fresh PostgreSQL databases)."""
    if db == "sqlite":
        yield {gateway: f"sqlite:///{root / (gateway.split('_')[0] + '.db')}",
               "sync_hub": f"sqlite:///{root / 'hub.db'}"}
        return
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    names = {s: f"jembatan_bench_{s}_{uuid.uuid4().hex[:8]}" for s in (gateway, "sync_hub")}
    try:
        with admin.connect() as conn:
            for name in names.values():
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        base = sa.engine.make_url(PG_ADMIN_URL)
        yield {s: base.set(database=n).render_as_string(hide_password=False) for s, n in names.items()}
    finally:
        with admin.connect() as conn:
            for name in names.values():
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    _count_fallback_calls()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--families", type=int, default=1000)
    parser.add_argument("--presses", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--gateway", choices=["emis", "dapodik"], default="emis")
    parser.add_argument("--batch", type=int, default=1, help="presses sent at once (threads pressing together)")
    parser.add_argument("--in-flight", type=int, default=None,
                        help="the gateway's <PREFIX>HUB_CALLS_IN_FLIGHT (default: its own, 2); with 1, N presses at "
                             "once make a batch of 1 then one of N-1")
    args = parser.parse_args()
    service = f"{args.gateway}_gateway"
    _count_batches()
    with ExitStack() as ctx:
        root = Path(ctx.enter_context(tempfile.TemporaryDirectory(prefix="bench-checks-cpu-")))
        generate_world(WorldConfig(seed=7, n_families=args.families), root / "world")
        urls = ctx.enter_context(databases(args.db, root, service))
        stack = Stack(root, database_urls=urls)
        stack.load_world(root / "world")
        c, to_hub = stack.creds, new_token()
        kemensos = ctx.enter_context(TestClient(kemensos_app(KemensosSettings(
            database_url=stack.database_url("kemensos_mock"), log_level="WARNING",
            api_tokens={"sync_hub": c.hub_to_kemensos})),
            base_url=BASE))
        hub = ctx.enter_context(TestClient(hub_app(HubSettings(
            database_url=urls["sync_hub"], local_key_dir=root / "keys", replica_follow_seconds=0, log_level="WARNING",
            api_tokens={service: to_hub}), upstreams=Upstreams(
                KemensosClient(BASE, c.hub_to_kemensos, http=kemensos, retry=RetryPolicy(attempts=1)),
                EmisClient(BASE, c.hub_to_emis, http=httpx.Client(base_url=BASE)),
                DapodikClient(BASE, c.hub_to_dapodik, http=httpx.Client(base_url=BASE)))), base_url=BASE))
        replica.refresh(hub.app.state.engine, KemensosClient(BASE, c.hub_to_kemensos, http=kemensos))
        def to_the_hub(_: object) -> HubClient:
            return HubClient(BASE, to_hub, http=httpx.Client(base_url=BASE, transport=Through(hub)),
                             retry=RetryPolicy(attempts=1))

        in_flight = {} if args.in_flight is None else {"hub_calls_in_flight": args.in_flight}
        if args.gateway == "emis":
            gateway = ctx.enter_context(TestClient(emis_app(
                EmisSettings(database_url=urls["emis_gateway"], pkh_poll_seconds=60, log_level="WARNING",
                             api_tokens={"sync_hub": c.hub_to_emis, "operator": c.operator}, **in_flight),
                hub=to_the_hub), base_url=BASE))
            operator = EmisClient(BASE, c.operator, http=gateway)
            students = [s.siswa_id for s in operator.iter_students()]
            press = _emis_press(operator)
        else:
            gateway = ctx.enter_context(TestClient(dapodik_app(
                DapodikSettings(database_url=urls["dapodik_gateway"], log_level="WARNING",
                                api_tokens={"sync_hub": c.hub_to_dapodik, "operator": c.operator}, **in_flight),
                hub=to_the_hub), base_url=BASE, headers={"Authorization": f"Bearer {c.operator}"}))
            students = [s.peserta_didik_id for s in DapodikClient(BASE, c.operator, http=gateway).iter_peserta_didik()]
            press = _dapodik_press(gateway)
        rng = random.Random(7)
        for _ in range(20):  # warm-up: imports, caches, the stored model
            press(rng.choice(students))
        BATCHES.clear()
        cpu, wall, hub_cpu = [], [], []
        digest = hashlib.sha256()  # the decisions: same seed, same picks -> the same digest unless a decision changed
        split: dict[bool, list[float]] = {False: [], True: []}  # CPU ms of each press, by "the fallback ran"
        hub_split: dict[bool, list[float]] = {False: [], True: []}  # the hub's part of it
        for _ in range(args.repeat):
            picks = [rng.choice(students) for _ in range(args.presses)]
            c0, w0, h0 = time.process_time(), time.perf_counter(), HUB_CPU[0]
            if args.batch > 1:
                answers = _pressed_together(press, picks, args.batch)
                for answer in answers:
                    digest.update(answer)
            for siswa_id in picks if args.batch == 1 else ():
                p0, before, hub0 = time.process_time(), FALLBACK_CALLS[0], HUB_CPU[0]
                answer = press(siswa_id)
                split[FALLBACK_CALLS[0] > before].append((time.process_time() - p0) * 1000)
                hub_split[FALLBACK_CALLS[0] > before].append((HUB_CPU[0] - hub0) * 1000)
                digest.update(answer)
            cpu.append((time.process_time() - c0) / args.presses * 1000)
            wall.append((time.perf_counter() - w0) / args.presses * 1000)
            hub_cpu.append((HUB_CPU[0] - h0) / args.presses * 1000)
        print(f"{args.db}, {args.families} families, {len(students)} students, {args.presses} presses x "
              f"{args.repeat}" + ("" if args.gateway == "emis" and args.batch == 1 else
                                  f" ({args.gateway}, {args.batch} at once"
                                  f"{'' if args.in_flight is None else f', {args.in_flight} in flight'}: "
                                  f"{len(BATCHES)} batches, "
                                  f"{statistics.fmean(BATCHES) if BATCHES else 0:.2f} presses per batch)")
              + ": "
              f"CPU per press {statistics.median(cpu):.1f} ms "
              f"(runs {', '.join(f'{x:.1f}' for x in cpu)}), of which the hub {statistics.median(hub_cpu):.1f} ms "
              f"(runs {', '.join(f'{x:.1f}' for x in hub_cpu)}), wall per press {statistics.median(wall):.1f} ms, "
              f"load average {os.getloadavg()[0]:.1f}")
        print(f"  decisions digest {digest.hexdigest()[:16]}")
        for ran, label in ((False, "keys decide"), (True, "fallback needed")):
            if split[ran]:
                print(f"  {label}: {len(split[ran])} presses, CPU per press median "
                      f"{statistics.median(split[ran]):.1f} ms, mean {statistics.fmean(split[ran]):.1f} ms; the hub's "
                      f"part median {statistics.median(hub_split[ran]):.1f} ms, mean "
                      f"{statistics.fmean(hub_split[ran]):.1f} ms")


FALLBACK_CALLS = [0]  # calls of the fallback (either path) so far: which presses needed it
BATCHES: list[int] = []  # the size of each batch of presses the gateway worked on (after the warm-up)


def _emis_press(operator: EmisClient):  # type: ignore[no-untyped-def]
    def press(siswa_id: str) -> bytes:
        """One EMIS press; what its answer decided, as digest input."""
        answer = operator.request_pkh(siswa_id)
        if answer.status.value != "DONE":
            raise SystemExit(f"press for a student answered {answer.status.value}")
        return b"".join(repr((r.siswa_id, r.state.value, r.status_pkh and r.status_pkh.value, r.keterangan_pkh,
                              r.matched_by and r.matched_by.value)).encode() for r in answer.results)
    return press


def _dapodik_press(gateway: TestClient):  # type: ignore[no-untyped-def]
    def press(peserta_didik_id: str) -> bytes:
        """One Dapodik press; what its answer decided and wrote, as digest input."""
        r = gateway.post(f"/api/v1/peserta-didik/{peserta_didik_id}/pkh-request")
        if r.status_code != 200:
            raise SystemExit(f"press for a student answered {r.status_code}")
        a = r.json()
        return repr((a["peserta_didik_id"], a["status_padan"], a["keterangan_padan"], a["matched_by"],
                     a["nilai_ditulis"])).encode()
    return press


def _pressed_together(press, picks: list[str], n: int) -> list[bytes]:  # type: ignore[no-untyped-def]
    """``picks`` pressed ``n`` at a time by ``n`` threads released together (each group's students distinct, as a
    batch holds a student once); the answers in press order."""
    out: list[bytes] = [b""] * len(picks)
    groups: list[list[int]] = []
    for k, sid in enumerate(picks):
        if not groups or len(groups[-1]) == n or sid in {picks[j] for j in groups[-1]}:
            groups.append([])
        groups[-1].append(k)
    for group in groups:
        start = threading.Barrier(len(group))

        def one(k: int, start: threading.Barrier = start) -> None:
            start.wait()
            out[k] = press(picks[k])

        threads = [threading.Thread(target=one, args=(k,)) for k in group]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    return out


def _count_batches() -> None:
    """Record the size of each batch the gateways work on (their ``Batches`` call these per batch)."""
    inner_emis = PkhRequests._request_many

    def emis_many(self, presses):  # type: ignore[no-untyped-def]
        BATCHES.append(len(presses))
        return inner_emis(self, presses)

    PkhRequests._request_many = emis_many  # type: ignore[method-assign]
    inner_dapodik = dapodik_pkh.request_students

    def dapodik_many(engine, hub, presses):  # type: ignore[no-untyped-def]
        BATCHES.append(len(presses))
        return inner_dapodik(engine, hub, presses)

    dapodik_pkh.request_students = dapodik_many


def _count_fallback_calls() -> None:
    """Wrap the fallbacks a check may call (``matching.service`` looks them up on their modules at each call)."""
    from importlib import import_module

    for name in ("fallback", "scalar_fallback"):
        try:
            module = import_module(f"services.sync_hub.matching.{name}")
        except ImportError:  # a checkout before the scalar fallback
            continue
        inner = module.run

        def counted(*a, _inner=inner, **k):  # type: ignore[no-untyped-def]
            FALLBACK_CALLS[0] += 1
            return _inner(*a, **k)

        module.run = counted


if __name__ == "__main__":
    main()
