"""A first sync's plan alone, in a process of its own: its peak memory against the size of the world.

    .venv/bin/python bench/bench_plan_memory.py --world DIR [--world DIR2 ...] [--repeat 1] [--json OUT]

docs/scale.md asks that a hub worker's memory follow its partition, not the country: a world twice as large may
move a worker's peak by at most 1.2×. Unit jobs were measured flat (session 6); the plan job is what every run
starts with, and on a first (or full) run it reads everything: both gateways' feeds, every school, every KIP
issuance and the whole registry. This bench loads each world on PostgreSQL (a fresh ``jb_bench_*`` database per
service on 127.0.0.1:5432, dropped at the end), starts Kemensos and the two gateways as processes, queues one full
run in the hub's database and plans it in a **fresh child process** that does what a worker does before it takes
a job (the same imports, ``shared.heap``'s settled collector) and then ``planner.plan``. The child's own start-up
is measured first (RSS once settled), then the plan: its peak RSS (``ru_maxrss``, the kernel's high-water mark),
wall and CPU seconds. With no replica follower running, the child's plan also makes the registry replica's first
load (``follower.refresh``), as a worker does when no hub API process has loaded it yet.

Reported per world: students read, registry people, RSS after start-up, peak RSS, the peak's growth over the
start-up, and the ratio of each world's growth to the first world's. No test asserts any figure.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import machine  # bench/machine.py: this directory is on sys.path when a bench runs as a script
from bench_sync_e2e import load_avg, pg_create, pg_drop

from jembatan.stack import SERVICES, Stack, free_port
from services.sync_hub.runs.models import SyncRunRow
from shared.clock import utcnow
from shared.contracts.hub import RunStatus
from shared.db import make_engine, session_scope

UPSTREAMS = ("kemensos_mock", "emis_gateway", "dapodik_gateway")


def _rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def child(run_id: str) -> None:
    """Plan ``run_id`` as a worker would (the environment names the hub's database and upstreams); print JSON."""
    from services.sync_hub.config import Settings
    from services.sync_hub.jobs import queue  # noqa: F401  (a worker imports the queue and its tasks first)
    from services.sync_hub.jobs.context import JobContext
    from services.sync_hub.sync import planner
    from services.sync_hub.upstreams import make_upstreams
    from shared import heap
    from shared.db import make_engine

    settings = Settings()
    engine = make_engine(settings.database_url)
    ups = make_upstreams(settings)
    heap.settle_on_start()
    heap.after_start()
    started_rss = _rss_mib()
    cpu0, t0 = time.process_time(), time.perf_counter()
    planner.plan(JobContext(engine, ups, settings), run_id, lambda session, ids: None)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    with engine.connect() as conn:
        students = conn.exec_driver_sql("SELECT count(*) FROM student_mirror").scalar_one()
        people = conn.exec_driver_sql("SELECT count(*) FROM replica_anggota").scalar_one()
        status = conn.exec_driver_sql("SELECT status, planned_at IS NOT NULL FROM sync_run WHERE id = %s",
                                      (run_id,)).one()
    print(json.dumps({"students": students, "people": people, "status": list(status), "started_rss_mib": started_rss,
                      "peak_rss_mib": peak, "wall_s": wall, "cpu_s": cpu}))
    ups.close()
    engine.dispose()


def one_round(world: Path) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]
    dbs = {s: f"jb_bench_{s}_{tag}" for s in SERVICES}
    pg_create(list(dbs.values()))
    workdir = Path(tempfile.mkdtemp(prefix="bench-planmem-"))
    stack = Stack(workdir, ports={s: free_port() for s in SERVICES}, log_level="WARNING",
                  database_urls={s: f"postgresql+psycopg://postgres@127.0.0.1:5432/{n}" for s, n in dbs.items()})
    try:
        stack.load_world(world)  # every service's part, and the hub's database migrated (empty)
        stack.start(services=UPSTREAMS)
        run_id = str(uuid.uuid4())
        engine = make_engine(stack.database_url("sync_hub"))
        with session_scope(engine) as session:  # as ``RunQueue.submit`` queues one (its job is this bench's child)
            session.add(SyncRunRow(id=run_id, status=RunStatus.QUEUED.value, trigger="bench",
                                   systems=["emis", "dapodik"], full=True, created_at=utcnow()))
        engine.dispose()
        env = {**stack.env("sync_hub"), "PYTHONPATH": os.environ.get("PYTHONPATH", str(Path.cwd()))}
        la0 = load_avg()
        script = os.environ.get("BENCH_PLAN_CHILD", str(Path(__file__).resolve()))  # (a probe may stand in)
        out = subprocess.run([sys.executable, script, "--child", run_id], env=env,
                             capture_output=True, text=True, check=False)
        if out.returncode != 0:
            raise RuntimeError(f"the plan's process failed:\n{out.stderr[-4000:]}")
        result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
        result.update(world=world.name, load_before=la0, load_after=load_avg())
        return result
    finally:
        stack.stop()
        pg_drop(list(dbs.values()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--world", type=Path, action="append", help="a world written by `jembatan world generate`")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--json", type=Path, help="write the raw measurements here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    if not args.world:
        parser.error("--world is required")
    rows: list[dict[str, Any]] = []
    for world in args.world:
        rounds = [one_round(world) for _ in range(args.repeat)]
        for r in rounds:
            print(f"{r['world']}: {r['students']:,} students, {r['people']:,} people; plan {r['wall_s']:.1f} s wall, "
                  f"{r['cpu_s']:.1f} CPU-s; RSS after start-up {r['started_rss_mib']:.0f} MiB, peak "
                  f"{r['peak_rss_mib']:.0f} MiB (+{r['peak_rss_mib'] - r['started_rss_mib']:.0f}); run {r['status']}; "
                  f"load {r['load_before']} -> {r['load_after']}", flush=True)
        rows.append({"world": world.name, "rounds": rounds,
                     "peak_rss_mib": statistics.median(r["peak_rss_mib"] for r in rounds),
                     "growth_mib": statistics.median(r["peak_rss_mib"] - r["started_rss_mib"] for r in rounds)})
    first = rows[0]
    print("\n| world | students | people | peak RSS MiB | growth over start-up MiB | peak / first world's |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        r0 = row["rounds"][0]
        print(f"| {row['world']} | {r0['students']:,} | {r0['people']:,} | {row['peak_rss_mib']:.0f} | "
              f"{row['growth_mib']:.0f} | {row['peak_rss_mib'] / first['peak_rss_mib']:.2f}× |")
    print(f"\n({machine.describe()})")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2, default=str))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
