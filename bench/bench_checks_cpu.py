"""CPU time of one "Request Data PKH" press, gateway and hub together, in one process.

    .venv/bin/python bench/bench_checks_cpu.py [--families 1000] [--presses 300] [--repeat 3] [--db sqlite|postgres]

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
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import statistics
import tempfile
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
from services.emis_gateway.config import Settings as EmisSettings
from services.emis_gateway.main import create_app as emis_app
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
def databases(db: str, root: Path) -> Iterator[dict[str, str]]:
    """The gateway's and the hub's database URLs (SQLite files under ``root``, or fresh PostgreSQL databases)."""
    if db == "sqlite":
        yield {"emis_gateway": f"sqlite:///{root / 'emis.db'}", "sync_hub": f"sqlite:///{root / 'hub.db'}"}
        return
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    names = {s: f"jembatan_bench_{s}_{uuid.uuid4().hex[:8]}" for s in ("emis_gateway", "sync_hub")}
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
    args = parser.parse_args()
    with ExitStack() as ctx:
        root = Path(ctx.enter_context(tempfile.TemporaryDirectory(prefix="bench-checks-cpu-")))
        generate_world(WorldConfig(seed=7, n_families=args.families), root / "world")
        urls = ctx.enter_context(databases(args.db, root))
        stack = Stack(root, database_urls=urls)
        stack.load_world(root / "world")
        c, to_hub = stack.creds, new_token()
        kemensos = ctx.enter_context(TestClient(kemensos_app(KemensosSettings(
            database_url=stack.database_url("kemensos_mock"), log_level="WARNING",
            api_tokens={"sync_hub": c.hub_to_kemensos})),
            base_url=BASE))
        hub = ctx.enter_context(TestClient(hub_app(HubSettings(
            database_url=urls["sync_hub"], local_key_dir=root / "keys", replica_follow_seconds=0, log_level="WARNING",
            api_tokens={"emis_gateway": to_hub}), upstreams=Upstreams(
                KemensosClient(BASE, c.hub_to_kemensos, http=kemensos, retry=RetryPolicy(attempts=1)),
                EmisClient(BASE, c.hub_to_emis, http=httpx.Client(base_url=BASE)),
                DapodikClient(BASE, c.hub_to_dapodik, http=httpx.Client(base_url=BASE)))), base_url=BASE))
        replica.refresh(hub.app.state.engine, KemensosClient(BASE, c.hub_to_kemensos, http=kemensos))
        gateway = ctx.enter_context(TestClient(emis_app(
            EmisSettings(database_url=urls["emis_gateway"], pkh_poll_seconds=60, log_level="WARNING",
                         api_tokens={"sync_hub": c.hub_to_emis, "operator": c.operator}),
            hub=lambda _: HubClient(BASE, to_hub, http=httpx.Client(base_url=BASE, transport=Through(hub)),
                                    retry=RetryPolicy(attempts=1))), base_url=BASE))
        operator = EmisClient(BASE, c.operator, http=gateway)
        students = [s.siswa_id for s in operator.iter_students()]
        rng = random.Random(7)
        for _ in range(20):  # warm-up: imports, caches, the stored model
            operator.request_pkh(rng.choice(students))
        cpu, wall, hub_cpu = [], [], []
        digest = hashlib.sha256()  # the decisions: same seed, same picks -> the same digest unless a decision changed
        split: dict[bool, list[float]] = {False: [], True: []}  # CPU ms of each press, by "the fallback ran"
        hub_split: dict[bool, list[float]] = {False: [], True: []}  # the hub's part of it
        for _ in range(args.repeat):
            picks = [rng.choice(students) for _ in range(args.presses)]
            c0, w0, h0 = time.process_time(), time.perf_counter(), HUB_CPU[0]
            for siswa_id in picks:
                p0, before, hub0 = time.process_time(), FALLBACK_CALLS[0], HUB_CPU[0]
                answer = operator.request_pkh(siswa_id)
                split[FALLBACK_CALLS[0] > before].append((time.process_time() - p0) * 1000)
                hub_split[FALLBACK_CALLS[0] > before].append((HUB_CPU[0] - hub0) * 1000)
                if answer.status.value != "DONE":
                    raise SystemExit(f"press for a student answered {answer.status.value}")
                for r in answer.results:
                    digest.update(repr((r.siswa_id, r.state.value, r.status_pkh and r.status_pkh.value,
                                        r.keterangan_pkh, r.matched_by and r.matched_by.value)).encode())
            cpu.append((time.process_time() - c0) / args.presses * 1000)
            wall.append((time.perf_counter() - w0) / args.presses * 1000)
            hub_cpu.append((HUB_CPU[0] - h0) / args.presses * 1000)
        print(f"{args.db}, {args.families} families, {len(students)} students, {args.presses} presses x "
              f"{args.repeat}: CPU per press {statistics.median(cpu):.1f} ms "
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
