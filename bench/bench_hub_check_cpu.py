"""The hub's CPU per check (``POST /api/v1/checks``), for one student and for batches of students, in one process.

    PYTHONPATH=$(pwd) .venv/bin/python bench/bench_hub_check_cpu.py [--families 1000] [--repeat 3] [--batch 1,10]
        [--db sqlite|postgres]

The world and the services as ``bench_checks_cpu.py`` sets them up (seed 7, the hub's replica read whole). Each
EMIS student is pressed once through the gateway, and the check body the gateway sends the hub for it is captured
(the records before any answer is applied). The captured bodies are then replayed to the hub alone, in batches of
``--batch`` students (consecutive bodies merged into one check, as the gateway's ``Batches`` merges presses),
``--repeat`` times: once straight to ``Checks.check`` (the service, no HTTP) and once through the hub's app (Starlette's
``TestClient``: JSON, validation, middleware, the thread-pool hop; the client's side included). Reported: CPU ms per
check (``time.process_time``, median of the repeats) and a digest of every answer's outcomes and items (the same on
two checkouts unless a decision or a returned value changed; ids and times left out). No test asserts any figure.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import json
import os
import random
import statistics
import sys
import tempfile
import time
import warnings
from contextlib import ExitStack
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from bench_checks_cpu import BASE, databases

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
from shared.contracts.hub import CheckRequest, CheckResponse
from shared.http import RetryPolicy
from shared.testing import new_token
from worldgen.config import WorldConfig
from worldgen.generate import generate_world


class Capture(httpx.BaseTransport):
    """The gateway's way to the in-process hub, keeping every check body it sends."""

    def __init__(self, client: TestClient) -> None:
        self.client, self.bodies = client, []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/checks":
            self.bodies.append(json.loads(request.read()))
        r = self.client.send(request)
        return httpx.Response(r.status_code, headers=r.headers, content=r.content)


def merged(bodies: list[dict]) -> dict:
    """One check body of several (the records and regions of each, in order)."""
    return {"system": bodies[0]["system"], "siswa": [s for b in bodies for s in b["siswa"]],
            "kode_wilayah": {k: v for b in bodies for k, v in b["kode_wilayah"].items()}}


def digest_of(answer: CheckResponse, digest: hashlib._Hash, dump: list[str]) -> None:
    for r in answer.results:
        dump.append(repr((r.student_id, r.outcome.value, r.matched_by.value, r.detail, r.no_kk)))
        digest.update(dump[-1].encode())
    for i in answer.items:
        dump.append(repr((i.student_id, i.outcome and i.outcome.value, i.outcome_detail, sorted(i.values.items()),
                            i.provenance.source_system, i.provenance.source_record, i.provenance.source_version,
                            i.provenance.matched_by.value)))  # record hashes: of the ids too
        digest.update(dump[-1].encode())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--families", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batch", default="1,10")
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="postgres")
    parser.add_argument("--dump", help="also write each answer's digested parts to DUMP-N.txt (to diff two runs)")
    parser.add_argument("--profile", help="also write a cProfile of the service calls per batch size to PREFIX-N.prof")
    args = parser.parse_args()
    sizes = [int(x) for x in args.batch.split(",")]
    with ExitStack() as ctx:
        root = Path(ctx.enter_context(tempfile.TemporaryDirectory(prefix="bench-hub-check-cpu-")))
        generate_world(WorldConfig(seed=7, n_families=args.families), root / "world")
        urls = ctx.enter_context(databases(args.db, root))
        stack = Stack(root, database_urls=urls)
        stack.load_world(root / "world")
        c, to_hub = stack.creds, new_token()
        kemensos = ctx.enter_context(TestClient(kemensos_app(KemensosSettings(
            database_url=stack.database_url("kemensos_mock"), log_level="WARNING",
            api_tokens={"sync_hub": c.hub_to_kemensos})), base_url=BASE))
        hub = ctx.enter_context(TestClient(hub_app(HubSettings(
            database_url=urls["sync_hub"], local_key_dir=root / "keys", replica_follow_seconds=0, log_level="WARNING",
            api_tokens={"emis_gateway": to_hub}), upstreams=Upstreams(
                KemensosClient(BASE, c.hub_to_kemensos, http=kemensos, retry=RetryPolicy(attempts=1)),
                EmisClient(BASE, c.hub_to_emis, http=httpx.Client(base_url=BASE)),
                DapodikClient(BASE, c.hub_to_dapodik, http=httpx.Client(base_url=BASE)))), base_url=BASE))
        replica.refresh(hub.app.state.engine, KemensosClient(BASE, c.hub_to_kemensos, http=kemensos))
        capture = Capture(hub)
        gateway = ctx.enter_context(TestClient(emis_app(
            EmisSettings(database_url=urls["emis_gateway"], pkh_poll_seconds=60, log_level="WARNING",
                         api_tokens={"sync_hub": c.hub_to_emis, "operator": c.operator}),
            hub=lambda _: HubClient(BASE, to_hub, http=httpx.Client(base_url=BASE, transport=capture),
                                    retry=RetryPolicy(attempts=1))), base_url=BASE))
        operator = EmisClient(BASE, c.operator, http=gateway)
        students = sorted(s.siswa_id for s in operator.iter_students())
        for siswa_id in students:
            operator.request_pkh(siswa_id)
        bodies = sorted(capture.bodies, key=lambda b: b["siswa"][0]["siswa_id"])
        random.Random(7).shuffle(bodies)
        checks = hub.app.state.checks
        headers = {"Authorization": f"Bearer {to_hub}"}
        print(f"{args.db}, {args.families} families, {len(bodies)} captured check bodies, repeat {args.repeat}, "
              f"load average {os.getloadavg()[0]:.1f}")
        for size in sizes:
            groups = [merged(bodies[i:i + size]) for i in range(0, len(bodies), size)]
            requests = [CheckRequest.model_validate(g) for g in groups]
            for r in requests[:5]:  # warm-up
                checks.check(r, "emis_gateway")
            service, http = [], []
            digest, dump = hashlib.sha256(), []
            for rep in range(args.repeat):
                c0 = time.process_time()
                answers = [checks.check(r, "emis_gateway") for r in requests]
                service.append((time.process_time() - c0) / len(requests) * 1000)
                c0 = time.process_time()
                posted = [hub.post("/api/v1/checks", json=g, headers=headers) for g in groups]
                http.append((time.process_time() - c0) / len(groups) * 1000)
                if rep == 0:
                    for a in answers:
                        digest_of(a, digest, dump)
                    for p in posted:
                        if p.status_code != 200:
                            raise SystemExit(f"check answered {p.status_code}: {p.text[:300]}")
                        digest_of(CheckResponse.model_validate_json(p.content), digest, dump)
            print(f"  batch {size}: {len(groups)} checks; CPU ms per check: service {statistics.median(service):.2f} "
                  f"(runs {', '.join(f'{x:.2f}' for x in service)}), through the app {statistics.median(http):.2f} "
                  f"(runs {', '.join(f'{x:.2f}' for x in http)}); answers digest {digest.hexdigest()[:16]}; "
                  f"load average {os.getloadavg()[0]:.1f}")
            if args.dump:
                Path(f"{args.dump}-{size}.txt").write_text("\n".join(dump) + "\n")
            if args.profile:
                profile = cProfile.Profile(time.process_time)  # CPU, not waits on the database
                profile.runcall(lambda: [checks.check(r, "emis_gateway") for r in requests])  # noqa: B023
                profile.dump_stats(f"{args.profile}-{size}.prof")


if __name__ == "__main__":
    main()
