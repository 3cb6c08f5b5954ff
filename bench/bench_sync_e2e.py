"""End-to-end sync throughput: the main job on a larger world, measured.

    .venv/bin/python bench/bench_sync_e2e.py --families 93000 --db postgres --workers 2 [--repeat 3]
        [--world DIR] [--unit-max N] [--first-only] [--replica-first] [--py-spy DIR] [--py-spy-phase plan|units]
        [--json OUT] [--write docs/benchmarks.md]

Starts the four services as processes (SQLite files, or with ``--db postgres`` a fresh PostgreSQL database per
service on 127.0.0.1:5432, user postgres, dropped afterwards), loads a generated world (``--world`` reuses one
written by ``jembatan world generate``), runs a full sync through the hub's API and reports students synced per
second (end to end, from the API call to the run's end), the run's phase timings (``plan.*`` and the sum over
units of ``units.*``), the wall time of the plan and of the units phase (first unit started -> last unit
finished, from ``GET /sync-runs/{id}/units``), per-core CPU busy % (``/proc/stat`` sampled every 0.5 s) over
each phase, the CPU seconds each process used in each phase (``/proc/<pid>/stat``; PostgreSQL: the backends
connected to the bench's databases), the peak resident memory of each process (each hub worker included) and
the load average before and after. ``--workers N``: hub worker processes on PostgreSQL, ``HUB_LOCAL_WORKERS``
on SQLite; ``--gateway-workers N``: uvicorn workers of each gateway (CPU counted over each service's process
tree); ``--worker-cpu C``: each hub worker capped at C cores (``WorkerQuota``: how two workers are compared
with one on a machine whose cores the services share). Then, unless ``--first-only``, on the same data: a run
with nothing changed (plans no unit), a run after a small change (one student edited at Dapodik, one registry
family leaving PKH) and a forced full re-read.
``--replica-first``: the first sync starts once the hub says it is ready (``/ready``: its follower has loaded the
registry replica), as on a hub installed before its first run; its figures then leave the replica's first load out.
With ``--repeat`` everything is repeated on fresh databases; medians are reported. No test asserts any figure.
Environment ``BENCH_AUTO_EXPLAIN_MS=N`` (PostgreSQL): the plans of statements slower than N ms go to the server's
log (``auto_explain``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import machine  # bench/machine.py: this directory is on sys.path when a bench runs as a script

from jembatan.changes import edit_peserta_didik, graduate_family, pkh_family_of_an_emis_recipient
from jembatan.stack import SERVICES, Stack, free_port
from shared.clients import DapodikClient, EmisClient
from worldgen.config import WorldConfig
from worldgen.generate import generate_world

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
TICK = os.sysconf("SC_CLK_TCK")
# The bench's own ANALYZE connections (autovacuum's stand-in) are not counted as the services' PostgreSQL CPU: their
# cost grows with the run's wall time (one ANALYZE of every database each --analyze-every seconds), not its work.
ANALYZER = "bench_analyze"


# -- measuring the machine ----------------------------------------------------------------------------------------


class CoreSampler(threading.Thread):
    """``/proc/stat`` per core every ``period`` seconds: (wall time, [(busy jiffies, total jiffies) per core])."""

    def __init__(self, period: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.period = period
        self.samples: list[tuple[float, list[tuple[int, int]]]] = []
        self._halt = threading.Event()

    @staticmethod
    def read() -> list[tuple[int, int]]:
        out = []
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("cpu") and line[3].isdigit():
                v = [int(x) for x in line.split()[1:]]
                idle = v[3] + v[4]  # idle + iowait
                out.append((sum(v) - idle, sum(v)))
        return out

    def run(self) -> None:
        while not self._halt.is_set():
            self.samples.append((time.time(), self.read()))
            self._halt.wait(self.period)

    def stop(self) -> None:
        self._halt.set()
        if self.is_alive():
            self.join()

    def busy(self, t0: float, t1: float) -> list[float]:
        """Busy % of each core between the samples nearest to t0 and t1."""
        if not self.samples:
            return []
        a = min(self.samples, key=lambda s: abs(s[0] - t0))[1]
        b = min(self.samples, key=lambda s: abs(s[0] - t1))[1]
        return [100.0 * (bb[0] - aa[0]) / max(1, bb[1] - aa[1]) for aa, bb in zip(a, b, strict=True)]


def proc_cpu(pid: int) -> float:
    """utime + stime of a process, in seconds (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def tree_cpu(pid: int) -> float:
    """``proc_cpu`` of a process and of every process under it (a service run with several uvicorn workers)."""
    parent: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo += [child for child, ppid in parent.items() if ppid == p]
    return sum(proc_cpu(p) for p in tree)


class WorkerQuota:
    """Each hub worker in a CPU cgroup of its own, capped at ``cores`` (CFS bandwidth control: ``cpu.cfs_quota_us``
    under cgroup v1's ``cpu`` controller, ``cpu.max`` under cgroup v2; root only). Two workers against one on a
    machine whose two cores also run the gateways, Kemensos and PostgreSQL: uncapped, one worker already keeps the
    cores ~70 % busy and a second can only take what is left, so the ratio says how much CPU was idle, not whether
    the work scales. Capped below half a core each, the workers are the bottleneck in both runs and the services
    have the capacity to serve two: each worker stands for a machine of its own, and the ratio is the run's."""

    def __init__(self, cores: float, tag: str) -> None:
        self.cores, self.tag = cores, tag
        v1 = Path("/sys/fs/cgroup/cpu")
        self.root = v1 if (v1 / "cpu.cfs_quota_us").exists() else Path("/sys/fs/cgroup")
        self.groups: list[Path] = []

    def cap(self, name: str, pid: int) -> None:
        group = self.root / f"jembatan_bench_{self.tag}_{name}"
        group.mkdir()
        self.groups.append(group)
        period = 100_000
        if (group / "cpu.cfs_quota_us").exists():
            (group / "cpu.cfs_period_us").write_text(str(period))
            (group / "cpu.cfs_quota_us").write_text(str(int(self.cores * period)))
        else:
            (group / "cpu.max").write_text(f"{int(self.cores * period)} {period}")
        (group / "cgroup.procs").write_text(str(pid))  # every thread of the process, and those it starts later

    def release(self) -> None:
        for group in self.groups:  # its processes have ended (the stack is stopped first)
            try:
                group.rmdir()
            except OSError as exc:
                print(f"cgroup {group} not removed: {exc}", file=sys.stderr)


class Periodic(threading.Thread):
    """Calls ``tick`` every ``period`` seconds until ``stop``; an exception is printed, not raised (the databases
    are dropped at the end while the last tick may still be running)."""

    def __init__(self, period: float) -> None:
        super().__init__(daemon=True)
        self.period = period
        self._halt = threading.Event()

    def tick(self) -> object:
        raise NotImplementedError

    def run(self) -> None:
        while not self._halt.wait(self.period):
            try:
                self.tick()
            except Exception as exc:
                print(f"{type(self).__name__}: {exc}", file=sys.stderr)

    def stop(self) -> None:
        self._halt.set()
        if self.is_alive():
            self.join()


class PgCpu(Periodic):
    """CPU seconds of the PostgreSQL backends serving the bench's databases, sampled every ``period`` seconds: a
    backend that connects and leaves within a phase (a job's pooled connection, a worker's session) is counted up
    to its last sample, where snapshots taken only at a phase's ends missed it (the first quiet re-measure of
    session 8 named about half of the busy cores' CPU; docs/benchmarks.md)."""

    def __init__(self, dbs: list[str], period: float = 0.5) -> None:
        super().__init__(period)
        self.dbs = dbs
        self.seen: dict[int, float] = {}  # pid -> the most CPU seen (a pid gone keeps its last sample)
        self.db_of: dict[int, str] = {}  # pid -> its database
        self._lock = threading.Lock()

    def sample(self) -> float:
        """Sample now; the CPU seconds of every backend seen so far."""
        return sum(self.by_db().values())

    def by_db(self) -> dict[str, float]:
        """Sample now; the CPU seconds of every backend seen so far, per database."""
        if self.dbs:
            import psycopg

            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                rows = conn.execute("SELECT pid, datname FROM pg_stat_activity WHERE datname = ANY(%s) "
                                    "AND application_name <> %s", (self.dbs, ANALYZER)).fetchall()
            with self._lock:
                for pid, db in rows:
                    self.seen[pid] = max(self.seen.get(pid, 0.0), proc_cpu(pid))
                    self.db_of[pid] = db
        out: dict[str, float] = {}
        with self._lock:
            for pid, cpu in self.seen.items():
                out[self.db_of.get(pid, "")] = out.get(self.db_of.get(pid, ""), 0.0) + cpu
        return out

    def tick(self) -> float:
        return self.sample()


def cpu_snapshot(stack: Stack, pg: PgCpu) -> dict[str, Any]:
    dbs = pg.by_db()
    return {"procs": {name: tree_cpu(p.pid) for name, p in stack.procs.items()}, "pg": sum(dbs.values()),
            "pg_db": dbs, "t": time.time()}


def cpu_delta(a: dict[str, Any], b: dict[str, Any]) -> dict[str, float]:
    """CPU seconds per process between two snapshots; ``postgres`` the backends' sum, and the same split per
    service's database (``pg sync_hub``, ...: not counted again in the sums)."""
    out = {name: round(b["procs"][name] - a["procs"].get(name, 0.0), 1) for name in b["procs"]}
    out["postgres"] = round(b["pg"] - a["pg"], 1)
    for db, cpu in sorted(b.get("pg_db", {}).items()):
        service = next((s for s in SERVICES if f"_{s}_" in db), "other")
        out[f"pg {service}"] = round(out.get(f"pg {service}", 0.0) + cpu - a.get("pg_db", {}).get(db, 0.0), 1)
    return out


def load_avg() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


# -- databases ------------------------------------------------------------------------------------------------------


def pg_create(names: list[str]) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        for n in names:
            conn.execute(f'CREATE DATABASE "{n}"')


class Analyzer(Periodic):
    """``ANALYZE`` the bench's databases every ``period`` seconds: what autovacuum does on a production server.
    The shared test server runs with ``autovacuum = off``, so tables filled by a run keep the statistics of an
    empty table and the planner picks plans that scan the whole table per lookup."""

    def __init__(self, urls: list[str], period: float) -> None:
        super().__init__(period)
        self.urls = urls
        self.seconds = 0.0

    def once(self) -> None:
        import psycopg

        t = time.perf_counter()
        for url in self.urls:
            with psycopg.connect(url, autocommit=True, application_name=ANALYZER) as conn:
                conn.execute("ANALYZE")
        self.seconds += time.perf_counter() - t

    def tick(self) -> None:
        self.once()


def pg_auto_explain(names: list[str], ms: str | None) -> None:
    """``BENCH_AUTO_EXPLAIN_MS``: every session on the bench's databases loads ``auto_explain`` with
    ``log_min_duration`` = that many ms, so the plan of each statement slower than that lands in the PostgreSQL
    server's log (on this machine ``/var/log/postgresql/``), e.g. to see which lookups a first sync seq-scans. The
    plans carry the statements' text with placeholders, not the values bound (the world is generated anyway)."""
    if not ms:
        return
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        for n in names:
            conn.execute(f'ALTER DATABASE "{n}" SET session_preload_libraries = \'auto_explain\'')
            conn.execute(f'ALTER DATABASE "{n}" SET auto_explain.log_min_duration = {int(ms)}')


def pg_statement_stats(names: list[str], on: str | None) -> None:
    """``BENCH_HUB_STATEMENT_STATS=1`` (or a comma list of services: ``dapodik_gateway,sync_hub``): every statement
    on the hub's database (those services' databases) goes to the server's log with its
    duration and the backend's CPU for it (``log_statement_stats``: user and system seconds per parse, bind and
    execute), to add up by statement (``bench/pg_statement_cpu.py``). The logging costs CPU itself: a run with it
    is for finding where the database spends, not for the figures."""
    if not on:
        return
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        for n in names:
            conn.execute(f'ALTER DATABASE "{n}" SET log_min_duration_statement = 0')
            conn.execute(f'ALTER DATABASE "{n}" SET log_statement_stats = on')


def pg_drop(names: list[str]) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        for n in names:
            conn.execute(f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)')


# -- one run ---------------------------------------------------------------------------------------------------------


def _ts(value: str | None) -> float | None:
    return datetime.fromisoformat(value).timestamp() if value else None


class Hub:
    def __init__(self, stack: Stack) -> None:
        token = stack.hub_token("operator", "admin", ttl_seconds=12 * 3600)  # a long bench outlives an hour
        self.http = httpx.Client(base_url=stack.url("sync_hub"), timeout=60.0,
                                 headers={"Authorization": f"Bearer {token}"})

    def wait_ready(self, timeout: float) -> None:
        """Until ``/ready`` says yes: the hub's follower has loaded the registry replica once."""
        end = time.time() + timeout
        while self.http.get("/ready").status_code != 200:
            if time.time() > end:
                raise RuntimeError(f"the hub was not ready in {timeout} s")
            time.sleep(0.5)

    def start(self, full: bool = False) -> str:
        r = self.http.post("/api/v1/sync-runs", json={"full": True} if full else {})
        r.raise_for_status()
        return str(r.json()["id"])

    def get(self, run_id: str) -> dict[str, Any]:
        r = self.http.get(f"/api/v1/sync-runs/{run_id}")
        r.raise_for_status()
        return dict(r.json())

    def units(self, run_id: str) -> list[dict[str, Any]]:
        r = self.http.get(f"/api/v1/sync-runs/{run_id}/units")
        r.raise_for_status()
        return list(r.json())


def risk_api(hub: Hub, periode: str, repeat: int = 5) -> dict[str, Any]:
    """Median wall time of the families-at-risk routes on the run's period: first page, a page filtered by the
    largest province, the next page, the summary, and the CSV and XLSX exports of that province."""
    def timed(path: str, params: dict[str, Any], times_: int = repeat) -> tuple[float, httpx.Response]:
        times, r = [], None
        for _ in range(times_):
            t = time.perf_counter()
            r = hub.http.get(path, params={"periode": periode, **params})
            times.append(time.perf_counter() - t)
            r.raise_for_status()
        assert r is not None
        return statistics.median(times), r

    out: dict[str, Any] = {}
    out["summary_s"], summary = timed("/api/v1/families-at-risk/summary", {})
    body = summary.json()
    provinces = {k: v.get("families", 0) for k, v in (body.get("by_province") or {}).items()}
    province = max(provinces, key=lambda k: provinces[k]) if provinces else None
    out["page_s"], first = timed("/api/v1/families-at-risk", {"limit": 100})
    cursor = first.json().get("next_cursor")
    if cursor:
        out["next_page_s"], _ = timed("/api/v1/families-at-risk", {"limit": 100, "cursor": cursor})
    if province:
        out["province"] = province
        out["province_page_s"], _ = timed("/api/v1/families-at-risk", {"limit": 100, "province": province})
        out["csv_s"], csv = timed("/api/v1/families-at-risk/export", {"format": "csv", "province": province}, 3)
        out["csv_rows"] = csv.text.count("\n") - 1
        out["xlsx_s"], _ = timed("/api/v1/families-at-risk/export", {"format": "xlsx", "province": province}, 3)
    return out


def timed_run(hub: Hub, stack: Stack, pg: PgCpu, sampler: CoreSampler, full: bool = False,
              on_units: Any = None, on_start: Any = None, timeout: float = 7200) -> dict[str, Any]:
    """Start a run and wait for it; CPU snapshots at the start, when its first unit starts and at its end."""
    la0 = load_avg()
    snap0 = cpu_snapshot(stack, pg)
    t0 = time.time()
    run_id = hub.start(full)
    if on_start:
        on_start()
    snap_units = None
    while True:
        run = hub.get(run_id)
        prog = run.get("progress") or {}
        if snap_units is None and (prog.get("units_running") or prog.get("units_done") or prog.get("units_failed")):
            snap_units = cpu_snapshot(stack, pg)
            if on_units:
                on_units()
        if run["status"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
            break
        if time.time() - t0 > timeout:
            raise RuntimeError(f"run {run_id} not done in {timeout} s")
        time.sleep(0.2)
    t1 = time.time()
    snap1 = cpu_snapshot(stack, pg)
    every = hub.units(run_id)
    units = [u for u in every if u.get("kind", "decide") == "decide"]
    verifying = [u for u in every if u.get("kind") == "verify"]
    starts = [s for s in (_ts(u.get("started_at")) for u in units) if s]
    ends = [e for e in (_ts(u.get("finished_at")) for u in units) if e]
    u0, u1 = (min(starts), max(ends)) if starts and ends else (t1, t1)
    sizes = sorted((u["students"] for u in units), reverse=True)
    return {
        "id": run_id, "status": run["status"], "wall_s": t1 - t0, "students": run["students_read"],
        "from_feed": run["students_from_feed"], "written": run["values_written"], "timings": run["timings"],
        "units": len(units), "unit_sizes_top": sizes[:5], "plan_wall_s": max(0.0, u0 - t0),
        "units_wall_s": u1 - u0, "tail_s": max(0.0, t1 - u1),
        "busy_run": sampler.busy(t0, t1), "busy_plan": sampler.busy(t0, u0), "busy_units": sampler.busy(u0, u1),
        "cpu_plan": cpu_delta(snap0, snap_units) if snap_units else None,
        "cpu_units": cpu_delta(snap_units, snap1) if snap_units else None,
        "cpu_run": cpu_delta(snap0, snap1), "load_before": la0, "load_after": load_avg(),
        "errors": run.get("errors", [])[:3],
        "verifications": run.get("verifications") or {}, "verify_units": len(verifying),
        "verify_wall_s": (run.get("timings") or {}).get("verify.wall"),
    }


def py_spy(pids: dict[str, int], out: Path, seconds: int) -> list[subprocess.Popen[bytes]]:
    exe = Path(sys.executable).parent / "py-spy"
    out.mkdir(parents=True, exist_ok=True)
    return [subprocess.Popen([str(exe), "record", "--pid", str(pid), "--format", "raw", "--rate", "50",
                              "--duration", str(seconds), "--nonblocking", "-o", str(out / f"{name}.txt")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for name, pid in pids.items()]


def one_round(world: Path, workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    dbs: list[str] = []
    urls: dict[str, str] = {}
    if args.db == "postgres":
        tag = uuid.uuid4().hex[:8]
        for s in SERVICES:
            name = f"jb_bench_{s}_{tag}"
            dbs.append(name)
            urls[s] = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
        pg_create(dbs)
        pg_auto_explain(dbs, os.environ.get("BENCH_AUTO_EXPLAIN_MS"))
        # BENCH_HUB_STATEMENT_STATS=1: the hub's database; =dapodik_gateway,emis_gateway,...: those services' databases
        stats = os.environ.get("BENCH_HUB_STATEMENT_STATS")
        which = ["sync_hub"] if stats == "1" else (stats or "").split(",")
        pg_statement_stats([n for n in dbs if any(f"_{s}_" in n for s in which if s)], stats)
    hub_env = {"HUB_LOCAL_WORKERS": str(args.workers)}
    extra = {"sync_hub": hub_env}
    if args.gateway_workers > 1:  # uvicorn workers of each gateway (their CPU: the process tree's)
        extra |= {"emis_gateway": {"EMIS_WORKERS": str(args.gateway_workers)},
                  "dapodik_gateway": {"DAPODIK_WORKERS": str(args.gateway_workers)}}
    if args.unit_max:
        hub_env["HUB_UNIT_MAX_STUDENTS"] = str(args.unit_max)
    stack = Stack(workdir, ports={s: free_port() for s in SERVICES}, database_urls=urls, log_level="WARNING",
                  hub_workers=args.workers, extra_env=extra)
    quota = WorkerQuota(args.worker_cpu, uuid.uuid4().hex[:8]) if args.worker_cpu else None
    sampler = CoreSampler()
    pg = PgCpu(dbs)
    analyzer = Analyzer([f"postgresql://postgres@127.0.0.1:5432/{n}" for n in dbs], args.analyze_every)
    result: dict[str, Any] = {}
    try:
        t = time.perf_counter()
        stack.load_world(world)
        result["load_s"] = time.perf_counter() - t
        if dbs and args.analyze_every > 0:
            analyzer.once()  # after the load, as autovacuum would
            analyzer.start()
        stack.start()
        if quota:
            for name, proc in stack.procs.items():
                if name.startswith("sync_hub_worker"):
                    quota.cap(name, proc.pid)
        sampler.start()
        pg.start()
        hub = Hub(stack)
        if args.replica_first:  # as on an installed hub: the follower has loaded the registry before any run
            t = time.perf_counter()
            hub.wait_ready(timeout=1800)
            result["replica_first_s"] = time.perf_counter() - t
        spies: list[subprocess.Popen[bytes]] = []

        def profile() -> None:
            if args.py_spy:
                pids = {n: p.pid for n, p in stack.procs.items()}  # every service: the gateways' side too
                spies.extend(py_spy(pids, args.py_spy, args.py_spy_seconds))

        hooks = {"on_start" if args.py_spy_phase == "plan" else "on_units": profile}
        result["first"] = timed_run(hub, stack, pg, sampler, **hooks)
        periode = hub.get(result["first"]["id"]).get("periode")
        if periode and result["first"]["status"] == "SUCCEEDED":
            result["risk_api"] = {"load": load_avg(), **risk_api(hub, periode)}
        for p in spies:
            p.wait()
        if not args.first_only:
            result["noop"] = timed_run(hub, stack, pg, sampler)
            with EmisClient(stack.url("emis_gateway"), stack.creds.hub_to_emis) as emis, \
                    DapodikClient(stack.url("dapodik_gateway"), stack.creds.hub_to_dapodik) as dapodik:
                _, no_kk = pkh_family_of_an_emis_recipient(emis)
                student = dapodik.changes(limit=1).items[0]
            graduate_family(stack, no_kk)
            edit_peserta_didik(stack, student.peserta_didik_id, {"tempat_lahir": "Bogor Barat"})
            result["change"] = timed_run(hub, stack, pg, sampler)
            result["full"] = timed_run(hub, stack, pg, sampler, full=True)
        result["peak"] = stack.peak_rss_mib()
        result["analyze_s"] = analyzer.seconds
    finally:
        analyzer.stop()
        pg.stop()
        sampler.stop()
        stack.stop()
        if quota:
            quota.release()
        if dbs and not args.keep:
            pg_drop(dbs)
        elif dbs:
            print("kept databases: " + ", ".join(dbs), file=sys.stderr)
    return result


# -- report -----------------------------------------------------------------------------------------------------------


def _fmt_cpu(d: dict[str, float] | None) -> str:
    if not d:
        return "-"
    short = {"kemensos_mock": "kemensos", "emis_gateway": "emis", "dapodik_gateway": "dapodik", "sync_hub": "hub API"}
    split = ", ".join(f"{k} {v:.1f}" for k, v in d.items() if k.startswith("pg "))
    return ", ".join(f"{short.get(k, k.replace('sync_hub_worker_', 'worker '))} {v:.1f}" for k, v in d.items()
                     if not k.startswith("pg ")) + (f" ({split})" if split else "")


def _named(cpu: dict[str, float] | None, busy: list[float], wall: float) -> str:
    """The named processes' CPU against what the busy cores spent over the same wall time (the rest: PostgreSQL's
    background processes, the benchmark, the kernel, other jobs on the machine)."""
    if not cpu or not busy:
        return ""
    spent = sum(busy) / 100.0 * wall
    named = sum(v for k, v in cpu.items() if not k.startswith("pg "))
    return f"; named {named:.1f} of {spent:.1f} CPU-s the cores spent"


def _fmt_busy(b: list[float]) -> str:
    return " / ".join(f"{x:.0f} %" for x in b) if b else "-"


def report(args: argparse.Namespace, rounds: list[dict[str, Any]], gen: str) -> str:
    med = statistics.median
    first = [r["first"] for r in rounds]
    f0 = first[0]
    students = int(f0["students"])
    wall = med(f["wall_s"] for f in first)
    units_wall = med(f["units_wall_s"] for f in first)
    plan_wall = med(f["plan_wall_s"] for f in first)
    each = ", ".join(f"{f['wall_s']:.1f}" for f in first)
    statuses = ", ".join(rounds[0][k]["status"] for k in ("first", "noop", "change", "full") if k in rounds[0])
    peaks: dict[str, float] = {}
    for r in rounds:
        for k, v in r["peak"].items():
            peaks[k] = max(peaks.get(k, 0.0), v)
    cmd = (f"`.venv/bin/python bench/bench_sync_e2e.py --families {args.families} --db {args.db} "
           f"--workers {args.workers}" + (f" --unit-max {args.unit_max}" if args.unit_max else "")
           + (f" --gateway-workers {args.gateway_workers}" if args.gateway_workers > 1 else "")
           + (f" --worker-cpu {args.worker_cpu:g}" if args.worker_cpu else "")
           + (f" --analyze-every {args.analyze_every:g}" if args.analyze_every else "")
           + (f" --repeat {args.repeat}" if args.repeat > 1 else "") + (" --first-only" if args.first_only else "")
           + (" --replica-first" if args.replica_first else "")
           + "`")
    lines = [
        f"#### {args.db}, {args.workers} worker(s) — {args.families:,} families, {students:,} students "
        f"(median of {len(rounds)})",
        "",
        f"Command: {cmd}",
        "",
        "| measure | value |",
        "|---|---|",
        f"| world | {gen} |",
        f"| load into the three upstream databases | {med(r['load_s'] for r in rounds):.1f} s |",
        *([f"| `--replica-first`: the follower's first load of the registry, before the run (not in the figures "
           f"below) | {med(r['replica_first_s'] for r in rounds):.1f} s |"] if "replica_first_s" in rounds[0] else []),
        f"| first sync (API call to run end) | {wall:.1f} s — **{students / wall:,.0f} students/s** "
        f"(each round: {each} s) |",
        f"| first sync: plan / units phase wall | {plan_wall:.1f} s / {units_wall:.1f} s "
        f"(units: {f0['units']}, largest {f0['unit_sizes_top']}) |",
        "| first sync phases, s (plan.*; units.* = sum over units) | "
        + ", ".join(f"{k} {v:.1f}" for k, v in f0["timings"].items() if isinstance(v, int | float)) + " |",
        f"| core busy % over run / plan / units | {_fmt_busy(f0['busy_run'])} ; {_fmt_busy(f0['busy_plan'])} ; "
        f"{_fmt_busy(f0['busy_units'])} |",
        f"| CPU s per process, plan phase | {_fmt_cpu(f0['cpu_plan'])}"
        f"{_named(f0['cpu_plan'], f0['busy_plan'], f0['plan_wall_s'])} |",
        f"| CPU s per process, units phase | {_fmt_cpu(f0['cpu_units'])}"
        f"{_named(f0['cpu_units'], f0['busy_units'], f0['units_wall_s'])} |",
        f"| load average before / after first sync | {f0['load_before']} / {f0['load_after']} |",
    ]
    api = rounds[0].get("risk_api")
    if api:
        rep = {k: v for k, v in f0["timings"].items() if k.startswith("report.")}
        lines.append("| families-at-risk report: build in the run's closing transaction | "
                     + ", ".join(f"{k} {v:.1f} s" for k, v in rep.items()) + " |")
        lines.append(f"| families-at-risk API, median of 5 (load {api['load']}) | "
                     f"summary {api['summary_s'] * 1000:.0f} ms, first page of 100 {api['page_s'] * 1000:.0f} ms, "
                     f"next page "
                     f"{api.get('next_page_s', 0) * 1000:.0f} ms, page of province {api.get('province')} "
                     f"{api.get('province_page_s', 0) * 1000:.0f} ms; export of that province "
                     f"({api.get('csv_rows', 0):,} rows): CSV {api.get('csv_s', 0):.2f} s, "
                     f"XLSX {api.get('xlsx_s', 0):.2f} s |")
    sent = f0.get("verifications", {}).get("APPLIED", 0)
    if sent and f0.get("verify_wall_s"):
        walls = [f["verify_wall_s"] for f in first if f.get("verify_wall_s")]
        lines.append(f"| education verifications, first sync: stage wall (after the last deciding unit) | "
                     f"{sent:,} sent in {med(walls):.1f} s — **{sent / med(walls):,.0f} verifications/s** "
                     f"({f0['verify_units']} units; " + ", ".join(
                         f"{k} {v:.1f}" for k, v in f0["timings"].items() if k.startswith("verify.")) + ") |")
    for key, label in (("noop", "run with nothing changed"), ("change", "after 1 student edit + 1 family leaving PKH"),
                       ("full", "forced full re-read (`full`)")):
        if key in rounds[0]:
            x = rounds[0][key]
            lines.append(f"| {label} | {med(r[key]['wall_s'] for r in rounds):.1f} s (units {x['units']}, read from "
                         f"feeds {x['from_feed']}, written {x['written']}; "
                         + ", ".join(f"{k} {v:.1f}" for k, v in x["timings"].items() if isinstance(v, int | float))
                         + f"; verifications {x.get('verifications') or {}}; load {x['load_before']}) |")
    lines += [
        f"| run statuses | {statuses} |",
        "| peak RSS per process (MiB) | " + ", ".join(f"{k} {v:.0f}" for k, v in peaks.items()) + " |",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--families", type=int, default=60000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    ap.add_argument("--workers", type=int, default=1, help="hub worker processes (PostgreSQL) / HUB_LOCAL_WORKERS")
    ap.add_argument("--worker-cpu", type=float, default=0.0,
                    help="cap each hub worker at this many cores (a CPU cgroup each; root; PostgreSQL only)")
    ap.add_argument("--gateway-workers", type=int, default=1, help="uvicorn worker processes of each gateway")
    ap.add_argument("--unit-max", type=int, help="HUB_UNIT_MAX_STUDENTS")
    ap.add_argument("--world", type=Path, help="a generated world to use (its --families must be given too)")
    ap.add_argument("--analyze-every", type=float, default=0.0,
                    help="PostgreSQL: ANALYZE the databases after the load and every this many seconds (the shared "
                    "server runs with autovacuum off); 0: never")
    ap.add_argument("--first-only", action="store_true", help="only the first sync")
    ap.add_argument("--replica-first", action="store_true",
                    help="start the first sync once the hub is ready (its follower has loaded the registry replica), "
                         "as on a hub installed before its first run; by default the run starts at once and its plan "
                         "loads the replica")
    ap.add_argument("--py-spy", type=Path,
                    help="record every service process with py-spy here (from --py-spy-phase on)")
    ap.add_argument("--py-spy-seconds", type=int, default=60)
    ap.add_argument("--py-spy-phase", choices=("plan", "units"), default="units",
                    help="start recording when the run starts (plan) or when its first unit starts (units)")
    ap.add_argument("--keep", action="store_true",
                    help="PostgreSQL: keep the databases (named on stderr; drop them yourself), e.g. for "
                    "bench/bench_unit_decide.py; SQLite: keep the work directory (runN/db/<service>.db)")
    ap.add_argument("--json", type=Path, help="write the raw measurements here")
    ap.add_argument("--write", type=Path, help="Append a results section to this markdown file")
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="jembatan-bench-"))
    try:
        world = args.world
        if world is None:
            world = base / "world"
            t = time.perf_counter()
            s = generate_world(WorldConfig(seed=args.seed, n_families=args.families), world)
            gen = f"generated in {time.perf_counter() - t:.1f} s, {s.n_students:,} students, {s.n_persons:,} persons"
        else:
            gen = f"{world.name} (seed {args.seed})"
        rounds = [one_round(world, base / f"run{i}", args) for i in range(args.repeat)]
    finally:
        if args.keep and args.db == "sqlite":
            print(f"kept work directory (SQLite databases): {base}", file=sys.stderr)
        else:
            shutil.rmtree(base, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "rounds": rounds},
                                        indent=1, default=str))
    text = report(args, rounds, gen) + f"\n({machine.describe()})\n"
    print(text)
    if args.write:
        with args.write.open("a") as fh:
            fh.write(text + "\n")


if __name__ == "__main__":
    main()
