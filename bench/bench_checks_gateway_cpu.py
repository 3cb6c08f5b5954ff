"""CPU of a "Request Data PKH" press in the gateway alone: EMIS and Dapodik in process, the hub's answers recorded.

    .venv/bin/python bench/bench_checks_gateway_cpu.py [--families 300] [--presses 300] [--repeat 3]
        [--db sqlite|postgres] [--gateway emis,dapodik] [--keep DIR] [--profile pyspy|FILE]

One world (worldgen, seed 7) loaded as ``jembatan.stack`` loads it; the Kemensos mock, the hub and the gateway run in
this process as ASGI apps (Starlette's ``TestClient``). Every student is pressed twice through the real hub (the
first press writes values, the second is the steady state a press after a sync sees: no items) and the hub's
answers are recorded; then the hub is replaced by the recording (an httpx transport), so the process's CPU time
(``time.process_time``) per press is the gateway's, plus the in-process client's share (the harness: ``GET
/health`` through the same client is printed beside it). ``--keep DIR`` keeps the world and its databases (on
PostgreSQL: ``chkgw_<dir>_*``, not dropped) for the next run; ``--profile pyspy`` records the measured presses
with py-spy (``--gil``, raw collapsed stacks in the temporary directory), another value writes cProfile stats
there (this thread only).
SHOWSQL=1 prints the statements of one press. No test asserts any figure.
"""
from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import random
import statistics
import sys
import tempfile
import time
import warnings
from contextlib import ExitStack
from pathlib import Path

import httpx

sys.path.insert(0, os.getcwd())
sys.path.insert(0, os.path.join(os.getcwd(), "bench"))
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

BASE = "http://testserver"
from jembatan.stack import Stack  # noqa: E402
from services.dapodik_gateway.config import Settings as DapodikSettings  # noqa: E402
from services.dapodik_gateway.main import create_app as dapodik_app  # noqa: E402
from services.emis_gateway.config import Settings as EmisSettings  # noqa: E402
from services.emis_gateway.main import create_app as emis_app  # noqa: E402
from services.kemensos_mock.config import Settings as KemensosSettings  # noqa: E402
from services.kemensos_mock.main import create_app as kemensos_app  # noqa: E402
from services.sync_hub.config import Settings as HubSettings  # noqa: E402
from services.sync_hub.main import create_app as hub_app  # noqa: E402
from services.sync_hub.replica import service as replica  # noqa: E402
from services.sync_hub.upstreams import Upstreams  # noqa: E402
from shared.clients import DapodikClient, EmisClient, HubClient, KemensosClient  # noqa: E402
from shared.contracts.hub import CheckRequest  # noqa: E402
from shared.http import RetryPolicy  # noqa: E402
from shared.testing import new_token  # noqa: E402
from worldgen.config import WorldConfig  # noqa: E402
from worldgen.generate import generate_world  # noqa: E402


class Replay(httpx.BaseTransport):
    def __init__(self, client: TestClient) -> None:
        self.client, self.replay, self.stored = client, False, {}

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = CheckRequest.model_validate_json(request.read())
        sid = (body.siswa[0].siswa_id if body.siswa else body.peserta_didik[0].peserta_didik_id)
        if self.replay:
            status, headers, content = self.stored[sid]
            return httpx.Response(status, headers=headers, content=content)
        r = self.client.send(request)
        self.stored[sid] = (r.status_code, dict(r.headers), r.content)
        return httpx.Response(r.status_code, headers=r.headers, content=r.content)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--families", type=int, default=300)
    p.add_argument("--presses", type=int, default=300)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--db", default="sqlite")
    p.add_argument("--profile", default="")
    p.add_argument("--gateway", default="emis,dapodik")
    p.add_argument("--top", type=int, default=45)
    p.add_argument("--keep", default="")
    a = p.parse_args()
    with ExitStack() as ctx:
        if a.keep:
            root = Path(a.keep)
            fresh = not (root / "world").exists()
        else:
            root, fresh = Path(ctx.enter_context(tempfile.TemporaryDirectory(prefix="prof-gw-"))), True
        urls = {}
        if a.db == "postgres":
            import sqlalchemy as sa

            from shared.testing import PG_ADMIN_URL
            tag = root.name.replace("-", "_")[:20]
            admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
            base = sa.engine.make_url(PG_ADMIN_URL)
            with admin.connect() as conn:
                for s in ("emis_gateway", "dapodik_gateway", "sync_hub", "kemensos_mock"):
                    name = f"chkgw_{tag}_{s}"
                    if fresh:
                        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
                    urls[s] = base.set(database=name).render_as_string(hide_password=False)
            admin.dispose()
        stack = Stack(root, database_urls=urls)
        if fresh:
            generate_world(WorldConfig(seed=7, n_families=a.families), root / "world")
            stack.load_world(root / "world")
        c, to_hub, to_hub_d = stack.creds, new_token(), new_token()
        kemensos = ctx.enter_context(TestClient(kemensos_app(KemensosSettings(
            database_url=stack.database_url("kemensos_mock"), log_level="WARNING",
            api_tokens={"sync_hub": c.hub_to_kemensos})), base_url=BASE))
        hub = ctx.enter_context(TestClient(hub_app(HubSettings(
            database_url=stack.database_url("sync_hub"), local_key_dir=root / "keys", replica_follow_seconds=0,
            log_level="WARNING", api_tokens={"emis_gateway": to_hub, "dapodik_gateway": to_hub_d}),
            upstreams=Upstreams(
                KemensosClient(BASE, c.hub_to_kemensos, http=kemensos, retry=RetryPolicy(attempts=1)),
                EmisClient(BASE, c.hub_to_emis, http=httpx.Client(base_url=BASE)),
                DapodikClient(BASE, c.hub_to_dapodik, http=httpx.Client(base_url=BASE)))), base_url=BASE))
        replica.refresh(hub.app.state.engine, KemensosClient(BASE, c.hub_to_kemensos, http=kemensos))
        out = {}
        for gw in a.gateway.split(","):
            tr = Replay(hub)
            tok = to_hub if gw == "emis" else to_hub_d
            def make(_: object, tok: str = tok, tr: Replay = tr) -> HubClient:
                return HubClient(BASE, tok, http=httpx.Client(base_url=BASE, transport=tr),
                                 retry=RetryPolicy(attempts=1))
            if gw == "emis":
                app = emis_app(EmisSettings(database_url=stack.database_url("emis_gateway"), pkh_poll_seconds=60,
                                            log_level="WARNING",
                                            api_tokens={"sync_hub": c.hub_to_emis, "operator": c.operator}),
                               hub=make)
            else:
                app = dapodik_app(DapodikSettings(database_url=stack.database_url("dapodik_gateway"),
                                                  log_level="WARNING",
                                                  api_tokens={"sync_hub": c.hub_to_dapodik, "operator": c.operator}),
                                  hub=make)
            client = ctx.enter_context(TestClient(app, base_url=BASE,
                                                  headers={"Authorization": f"Bearer {c.operator}"}))
            if gw == "emis":
                ids = [s.siswa_id for s in EmisClient(BASE, c.operator, http=client).iter_students()]
                paths = [f"/api/v1/siswa/{i}/pkh-request" for i in ids]
            else:
                ids = [s.peserta_didik_id for s in DapodikClient(BASE, c.operator, http=client).iter_peserta_didik()]
                paths = [f"/api/v1/peserta-didik/{i}/pkh-request" for i in ids]
            for _ in range(2):  # first press writes values; the second is the steady state, recorded
                for path in paths:
                    r = client.post(path)
                    assert r.status_code == 200, (r.status_code, r.text[:300])
            tr.replay = True
            if os.environ.get("SHOWSQL"):
                import sqlalchemy as sa
                eng = client.app.state.engine
                log = []
                sa.event.listen(eng, "before_cursor_execute",
                                lambda conn, cur, stmt, params, ctx, many, log=log: log.append((many, stmt[:200])))
                client.post(paths[0])
                for m, st in log:
                    print("SQL", "MANY" if m else "    ", st)
                log.clear()
            rng = random.Random(7)
            for _ in range(30):
                client.post(rng.choice(paths))
            # the harness alone (TestClient + /health)
            h0 = time.process_time()
            for _ in range(a.presses):
                client.get("/health")
            health = (time.process_time() - h0) / a.presses * 1000
            if a.profile == "pyspy":
                import subprocess
                spy = subprocess.Popen([os.path.join(os.getcwd(), ".venv/bin/py-spy"), "record", "-p", str(os.getpid()),
                                        "-r", "200", "--gil", "--format", "raw",
                                        "-o", os.path.join(tempfile.gettempdir(), f"spy_{gw}.txt")],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(2)
            cpu = []
            prof = cProfile.Profile() if a.profile and a.profile != "pyspy" else None
            for _ in range(a.repeat):
                picks = [rng.choice(paths) for _ in range(a.presses)]
                if prof:
                    prof.enable()
                c0 = time.process_time()
                for path in picks:
                    r = client.post(path)
                    assert r.status_code == 200, r.text[:300]
                cpu.append((time.process_time() - c0) / a.presses * 1000)
                if prof:
                    prof.disable()
            if a.profile == "pyspy":
                spy.send_signal(2)
                spy.wait()
            out[gw] = (len(ids), statistics.median(cpu), cpu, health)
            print(f"{gw}: {len(ids)} students, CPU per press {statistics.median(cpu):.2f} ms "
                  f"(runs {', '.join(f'{x:.2f}' for x in cpu)}); GET /health {health:.2f} ms; "
                  f"load {os.getloadavg()[0]:.1f}", flush=True)
            if prof:
                prof.dump_stats(f"{a.profile}.{gw}")
                st = pstats.Stats(prof)
                st.sort_stats("cumulative").print_stats(a.top)
                st.sort_stats("tottime").print_stats(a.top)


if __name__ == "__main__":
    main()
