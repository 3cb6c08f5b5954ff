"""The registry replica's first load: how fast the hub's follower reads a whole registry through Kemensos's change feed.

    .venv/bin/python bench/bench_replica_load.py --world DIR [--repeat 1]

A hub that has never synced holds no replica: its follower (a thread of the hub's API process,
``replica/follower.py``) reads the registry's change feed from sequence 0 into ``replica_*`` before a first sync can
decide anyone. Nationally that is DTSEN's ~95 M families and ~289 M people, through one feed. This bench loads a
world written by ``jembatan world generate`` on PostgreSQL (a fresh ``jb_bench_*`` database per service on
127.0.0.1:5432, dropped at the end), starts the Kemensos mock as a process, and runs the follower's first round
(``follower.refresh``) in this process against an empty hub database. Reported: families and people in the replica,
wall seconds, people per second, and the CPU seconds of the follower (this process), the Kemensos mock and the two
services' PostgreSQL backends (CPU is the steadier figure on a shared machine), per 1,000 people. No test asserts
any figure.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import machine  # bench/machine.py: this directory is on sys.path when a bench runs as a script
from bench_sync_e2e import PgCpu, load_avg, pg_create, pg_drop, tree_cpu

from jembatan.stack import SERVICES, Stack, free_port
from services.sync_hub.replica import follower
from shared.clients import KemensosClient
from shared.db import make_engine


def one_round(world: Path) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]
    dbs = {s: f"jb_bench_{s}_{tag}" for s in SERVICES}
    pg_create(list(dbs.values()))
    workdir = Path(tempfile.mkdtemp(prefix="bench-replica-"))
    stack = Stack(workdir, ports={s: free_port() for s in SERVICES}, log_level="WARNING",
                  database_urls={s: f"postgresql+psycopg://postgres@127.0.0.1:5432/{n}" for s, n in dbs.items()})
    pg = PgCpu([dbs["sync_hub"], dbs["kemensos_mock"]])
    engine = make_engine(stack.database_url("sync_hub"))
    try:
        stack.load_world(world)  # every service's part, and the hub's database migrated (empty)
        stack.start(services=["kemensos_mock"])
        kemensos = stack.procs["kemensos_mock"]
        pg.start()
        la0 = load_avg()
        with KemensosClient(stack.url("kemensos_mock"), stack.creds.hub_to_kemensos) as client:
            cpu0, kem0, pg0, t0 = time.process_time(), tree_cpu(kemensos.pid), pg.sample(), time.perf_counter()
            result = follower.refresh(engine, client)  # what the hub's follower does on its first round
            wall = time.perf_counter() - t0
            cpu = {"hub (follower)": time.process_time() - cpu0, "kemensos_mock": tree_cpu(kemensos.pid) - kem0,
                   "postgres": pg.sample() - pg0}
        with engine.connect() as conn:
            families = conn.exec_driver_sql("SELECT count(*) FROM replica_keluarga").scalar_one()
            people = conn.exec_driver_sql("SELECT count(*) FROM replica_anggota").scalar_one()
        return {"families": families, "people": people, "changes": result.changes, "wall_s": wall,
                "people_per_s": people / wall, "cpu": cpu, "load_before": la0, "load_after": load_avg()}
    finally:
        pg.stop()
        engine.dispose()
        stack.stop()
        pg_drop(list(dbs.values()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--world", type=Path, required=True, help="a world written by `jembatan world generate`")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    rounds = [one_round(args.world) for _ in range(args.repeat)]
    for r in rounds:
        per_k = {n: round(1000 * v / r["people"], 2) for n, v in r["cpu"].items()}
        cpu = ", ".join(f"{n} {v:.1f}" for n, v in r["cpu"].items())
        print(f"{r['families']:,} families, {r['people']:,} people ({r['changes']:,} feed changes) in "
              f"{r['wall_s']:.1f} s: {r['people_per_s']:,.0f} people/s; CPU-s {cpu} = per 1,000 people {per_k}; "
              f"load {r['load_before']} -> {r['load_after']}", flush=True)
    if len(rounds) > 1:
        print(f"median: {statistics.median(r['people_per_s'] for r in rounds):,.0f} people/s")
    print(f"({machine.describe()})")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
