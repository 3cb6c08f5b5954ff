"""Load benchmark of "Request Data PKH": operators pressing the button at once, through both gateways.

    .venv/bin/python bench/bench_checks_load.py [--families 5000] [--db sqlite --db postgres]
        [--levels 1,10,100,200] [--seconds 10] [--workers 2] [--write docs/benchmarks.md] [--py-spy DIR]
        [--client threads|asyncio]

One generated world (``worldgen``, seed 7), the four services started as processes (``jembatan.stack``; on
PostgreSQL each service gets a fresh ``jembatan_bench_*`` database on 127.0.0.1:5432, dropped at the end),
one full sync to warm up (``POST /api/v1/sync-runs``, waited for), then for each gateway and each level a
closed loop: N operator threads, each pressing Request Data PKH for a random student (EMIS ``POST
/api/v1/siswa/{id}/pkh-request``, Dapodik ``POST /api/v1/peserta-didik/{id}/pkh-request``) and pressing
again as soon as it is answered, for ``--seconds``. Reported per level: requests, errors (any non-2xx or
transport error, and any EMIS answer not DONE), p50 / p95 / p99 latency, requests/s, load average before and
after, and the CPU time per request of each process (the hub, its worker, each gateway, the Kemensos mock,
the PostgreSQL backends of the bench's databases, the load generator), read from ``/proc``: on a shared
machine the steadier figure. The load generator shares the machine's cores with the services. No test asserts
any figure. ``--client asyncio``: the operators are coroutines of one event loop on their own keep-alive connections
instead of threads of httpx (the load generator's CPU per press falls; the requests and checks are the same).
``--py-spy DIR`` records each service (its uvicorn workers too) with py-spy during every level, as
collapsed stacks ``DIR/<db>-<gateway>-<operators>-<service>.txt`` (``pip install py-spy``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import machine  # bench/machine.py: this directory is on sys.path when a bench runs as a script
import sqlalchemy as sa

from jembatan.stack import SERVICES, Stack, free_port
from shared.clients import DapodikClient, EmisClient, HubClient
from shared.testing import PG_ADMIN_URL
from worldgen.config import WorldConfig
from worldgen.generate import generate_world


@contextmanager
def postgres_databases() -> Iterator[dict[str, str]]:
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    names = {s: f"jembatan_bench_{s}_{uuid.uuid4().hex[:8]}" for s in SERVICES}
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


@dataclass
class Level:
    gateway: str
    operators: int
    requests: int
    errors: int
    seconds: float
    latencies: list[float]
    load_before: float
    load_after: float
    error_kinds: dict[str, int]
    busy: float  # share of the machine's CPU time (all cores) not idle during the window, 0..1
    cpu_ms: dict[str, float]  # CPU ms per request by role (``role_cpu``): steadier than wall time on a shared machine
    hub_calls: int = 0  # checks the hub recorded during the level (the gateways send the presses asked together)


    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of all cores since boot (``/proc/stat``); (0, 0) where there is none."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


CLOCK_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _proc_stats() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, user + system jiffies) of every process (``/proc``; empty where there is none)."""
    out: dict[int, tuple[int, int]] = {}
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else ():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        out[int(entry.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    return out


def role_cpu(roots: dict[str, int], databases: dict[str, str]) -> dict[tuple[str, int], int]:
    """(role, pid) -> CPU jiffies used so far: a service's process tree (uvicorn and its workers, from ``roots``),
    the PostgreSQL backends serving the bench's databases (role ``postgres``), and this process (``loadgen``:
    the operators' threads)."""
    stats = _proc_stats()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    out: dict[tuple[str, int], int] = {}
    for role, root in roots.items():
        todo = [root]
        while todo:
            pid = todo.pop()
            if pid in stats:
                out[role, pid] = stats[pid][1]
            todo += children.get(pid, [])
    names = tuple(str(sa.engine.make_url(u).database) for u in databases.values())
    for pid, (_, jiffies) in stats.items():
        if names:
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if cmdline.startswith(b"postgres:") and any(n.encode() in cmdline for n in names):
                out["postgres", pid] = jiffies
    out["loadgen", os.getpid()] = stats.get(os.getpid(), (0, 0))[1]
    return out


def cpu_ms_per(before: dict[tuple[str, int], int], after: dict[tuple[str, int], int], requests: int
               ) -> dict[str, float]:
    """CPU ms per request by role between two ``role_cpu`` readings. A process started in the window counts from
    zero; one that ended in it (a pooled connection closed) is not counted, so a figure can only be low."""
    per: dict[str, float] = {}
    for (role, pid), jiffies in after.items():
        per[role] = per.get(role, 0.0) + (jiffies - before.get((role, pid), 0))
    return {role: j * 1000 / CLOCK_TICK / max(1, requests) for role, j in per.items()}


def _tally(lock: threading.Lock, latencies: list[float], count: list[int], kinds: dict[str, int], took: float,
           kind: str | None) -> None:
    """One answered press into a level's figures (requests, errors by kind, latencies), from any operator."""
    with lock:
        count[0] += 1
        latencies.append(took)
        if kind:
            count[1] += 1
            kinds[kind] = kinds.get(kind, 0) + 1


async def _async_operators(url: str, token: str, paths: list[str], operators: int, emis: bool,
                           start: threading.Barrier, go: threading.Event, stop_at: list[float], lock: threading.Lock,
                           latencies: list[float], count: list[int], kinds: dict[str, int]) -> None:
    """``operators`` closed-loop operators as coroutines of one event loop, each on its own keep-alive HTTP/1.1
    connection (asyncio streams; the request is one write, the answer read by its ``Content-Length``): what a
    load generator on another machine costs this one is not the services' cost, and 100 threads of a full HTTP
    client cost ~1 ms of CPU per press here. Same requests, same checks of the answers as the threads."""
    parsed = httpx.URL(url)
    host, port = parsed.host, parsed.port or 80
    head = f"Host: {host}:{port}\r\nAuthorization: Bearer {token}\r\nContent-Length: 0\r\n\r\n"

    async def connect() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection(host, port)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return reader, writer

    async def answer(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
        status = int((await reader.readline()).split()[1])
        length, close = 0, False
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "connection":
                close = "close" in value.lower()
            elif name == "transfer-encoding":
                raise ValueError("chunked answer")  # the routes answer JSON with a length
        return status, await reader.readexactly(length) if length else b"", close

    async def operator(seed: int, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
        rng = random.Random(seed)
        reader, writer = conn
        await ready.wait()
        while time.monotonic() < stop_at[0]:
            path = rng.choice(paths)
            t0 = time.perf_counter()
            kind = None
            close = True
            try:
                writer.write(f"POST {path} HTTP/1.1\r\n{head}".encode())
                status, body, close = await answer(reader)
                if status >= 300:
                    kind = f"HTTP {status}"
                elif emis and json.loads(body).get("status") != "DONE":
                    kind = f"EMIS {json.loads(body).get('status')}"
            except (OSError, ValueError, IndexError, asyncio.IncompleteReadError) as exc:
                kind = type(exc).__name__
            _tally(lock, latencies, count, kinds, time.perf_counter() - t0, kind)
            if close or kind:
                writer.close()
                reader, writer = await connect()
        writer.close()

    loop = asyncio.get_running_loop()
    ready = asyncio.Event()
    conns = [await connect() for _ in range(operators)]
    tasks = [asyncio.create_task(operator(i, c)) for i, c in enumerate(conns)]
    await loop.run_in_executor(None, start.wait)
    await loop.run_in_executor(None, go.wait)
    ready.set()
    await asyncio.gather(*tasks)


def closed_loop(url: str, token: str, paths: list[str], operators: int, seconds: float, emis: bool,
                roots: dict[str, int] | None = None, databases: dict[str, str] | None = None,
                client: str = "threads") -> Level:
    lock = threading.Lock()
    latencies: list[float] = []
    kinds: dict[str, int] = {}
    count = [0, 0]
    start = threading.Barrier((operators if client == "threads" else 1) + 1)
    go = threading.Event()  # the window opens once every operator is ready
    stop_at = [0.0]

    def operator(seed: int) -> None:
        rng = random.Random(seed)
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120) as client:
            start.wait()
            go.wait()
            while time.monotonic() < stop_at[0]:
                path = rng.choice(paths)
                t0 = time.perf_counter()
                kind = None
                try:
                    r = client.post(path)
                    if r.status_code >= 300:
                        kind = f"HTTP {r.status_code}"
                    elif emis and r.json().get("status") != "DONE":
                        kind = f"EMIS {r.json().get('status')}"
                except httpx.HTTPError as exc:
                    kind = type(exc).__name__
                _tally(lock, latencies, count, kinds, time.perf_counter() - t0, kind)

    if client == "asyncio":
        threads = [threading.Thread(target=asyncio.run, args=(_async_operators(
            url, token, paths, operators, emis, start, go, stop_at, lock, latencies, count, kinds),), daemon=True)]
    else:
        threads = [threading.Thread(target=operator, args=(i,), daemon=True) for i in range(operators)]
    for t in threads:
        t.start()
    start.wait()
    load_before = os.getloadavg()[0]
    cpu_before = cpu_times()
    roles_before = role_cpu(roots or {}, databases or {})
    stop_at[0] = time.monotonic() + seconds
    t0 = time.perf_counter()
    go.set()
    for t in threads:
        t.join()
    took = time.perf_counter() - t0
    cpu_after = cpu_times()
    roles_after = role_cpu(roots or {}, databases or {})
    cpu_ms = cpu_ms_per(roles_before, roles_after, count[0])
    busy = (cpu_after[0] - cpu_before[0]) / max(1, cpu_after[1] - cpu_before[1])
    return Level("emis" if emis else "dapodik", operators, count[0], count[1], took, latencies, load_before,
                 os.getloadavg()[0], kinds, busy, cpu_ms)


def py_spy(pids: dict[str, int], out: Path, tag: str, seconds: float) -> list[subprocess.Popen[bytes]]:
    """py-spy recording each process (and its children: the uvicorn workers) for ``seconds``, collapsed stacks.
    Only the thread holding the GIL is sampled (``--gil``): a gateway's many request threads waiting for the GIL
    would otherwise be counted where they wait (a list comprehension, a lock), not where the CPU goes."""
    exe = Path(sys.executable).parent / "py-spy"
    out.mkdir(parents=True, exist_ok=True)
    return [subprocess.Popen([str(exe), "record", "--pid", str(pid), "--subprocesses", "--format", "raw",
                              "--rate", "100", "--gil", "--duration", str(max(1, int(seconds))), "--nonblocking",
                              "-o", str(out / f"{tag}-{name}.txt")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for name, pid in pids.items()]


def run_db(db: str, world: Path, families: int, levels: list[int], seconds: float, workers: int,
           start_timeout: float = 300.0, spy: Path | None = None, client: str = "threads") -> list[Level]:
    out: list[Level] = []
    with ExitStack() as ctx:
        urls = ctx.enter_context(postgres_databases()) if db == "postgres" else {}
        workdir = Path(ctx.enter_context(tempfile.TemporaryDirectory(prefix=f"bench-checks-{db}-")))
        stack = Stack(workdir, ports={s: free_port() for s in SERVICES}, database_urls=urls, log_level="WARNING")
        stack.load_world(world)
        for prefix in ("HUB_", "EMIS_", "DAPODIK_"):
            os.environ[f"{prefix}WORKERS"] = str(workers)
        keep = Path(tempfile.gettempdir()) / f"bench-checks-logs-{db}"
        ctx.callback(lambda: shutil.copytree(workdir / "logs", keep, dirs_exist_ok=True))  # after stop
        ctx.callback(stack.stop)  # also when a service does not come up in time
        stack.start(timeout=start_timeout)  # a shared machine can take minutes
        with HubClient(stack.url("sync_hub"), stack.hub_operator) as hub:
            t0 = time.perf_counter()
            run = hub.wait(hub.start_run().id, timeout=7200, poll=0.5)
            print(f"[{db}] warm-up sync {run.status.value}: {run.students_read} students, "
                  f"{time.perf_counter() - t0:.1f} s", flush=True)
        with EmisClient(stack.url("emis_gateway"), stack.creds.operator) as emis:
            siswa = [s.siswa_id for s in emis.iter_students()]
        with DapodikClient(stack.url("dapodik_gateway"), stack.creds.operator) as dapodik:
            pd = [p.peserta_didik_id for p in dapodik.iter_students()]
        targets = {
            "emis": (stack.url("emis_gateway"), [f"/api/v1/siswa/{i}/pkh-request" for i in siswa], True),
            "dapodik": (stack.url("dapodik_gateway"), [f"/api/v1/peserta-didik/{i}/pkh-request" for i in pd], False),
        }
        roots = {"hub": stack.procs["sync_hub"].pid, "emis": stack.procs["emis_gateway"].pid,
                 "dapodik": stack.procs["dapodik_gateway"].pid, "kemensos": stack.procs["kemensos_mock"].pid}
        roots |= {name: p.pid for name, p in stack.procs.items() if name.startswith("sync_hub_worker")}
        hub_db = sa.create_engine(stack.database_url("sync_hub"))
        ctx.callback(hub_db.dispose)

        def hub_checks() -> int:
            with hub_db.connect() as conn:
                return int(conn.execute(sa.text("SELECT count(*) FROM hub_check")).scalar_one())

        for gateway, (url, paths, is_emis) in targets.items():
            for n in levels:
                calls = hub_checks()
                spies = py_spy({k: v for k, v in roots.items() if k in ("hub", "emis", "dapodik")}, spy,
                               f"{db}-{gateway}-{n}", seconds) if spy else []
                level = closed_loop(url, stack.creds.operator, paths, n, seconds, is_emis, roots, urls, client)
                level.hub_calls = hub_checks() - calls
                for p in spies:
                    p.wait()
                out.append(level)
                print(f"[{db}] {gateway:7s} {n:4d} operators: {level.requests:6d} requests, {level.errors} errors "
                      f"{level.error_kinds or ''}, p50 {level.pct(0.5):.0f} ms, p95 {level.pct(0.95):.0f} ms, "
                      f"p99 {level.pct(0.99):.0f} ms, {level.requests / level.seconds:.0f} req/s, "
                      f"load {level.load_before:.1f} -> {level.load_after:.1f}, CPU busy {level.busy:.0%}, "
                      f"{level.requests / max(1, level.hub_calls):.1f} presses per hub check; "
                      "CPU ms per request: "
                      + ", ".join(f"{k} {v:.1f}" for k, v in level.cpu_ms.items() if v), flush=True)
    print(f"[{db}] service logs kept in {Path(tempfile.gettempdir()) / f'bench-checks-logs-{db}'}")
    return out


def table(results: dict[str, list[Level]]) -> str:
    lines = ["| database | gateway | operators | requests | errors | p50 ms | p95 ms | p99 ms | req/s "
             "| load before → after | CPU busy | presses per hub check | CPU ms per request |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for db, levels in results.items():
        for lv in levels:
            lines.append(f"| {db} | {lv.gateway} | {lv.operators} | {lv.requests} | {lv.errors} | {lv.pct(0.5):.0f} | "
                         f"{lv.pct(0.95):.0f} | {lv.pct(0.99):.0f} | {lv.requests / lv.seconds:.0f} | "
                         f"{lv.load_before:.1f} → {lv.load_after:.1f} | {lv.busy:.0%} | "
                         f"{lv.requests / max(1, lv.hub_calls):.1f} | "
                         + ", ".join(f"{k} {v:.1f}" for k, v in lv.cpu_ms.items() if v) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--families", type=int, default=5000)
    parser.add_argument("--db", action="append", choices=["sqlite", "postgres"])
    parser.add_argument("--levels", default="1,10,100,200")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--start-timeout", type=float, default=300.0, help="seconds for the services to come up")
    parser.add_argument("--write", type=Path)
    parser.add_argument("--client", choices=("threads", "asyncio"), default="threads",
                        help="operators as threads of an HTTP client (httpx), or as coroutines of one event loop")
    parser.add_argument("--py-spy", type=Path, help="record the hub and the gateways with py-spy here, per level")
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    root = Path(tempfile.mkdtemp(prefix="bench-checks-world-"))
    try:
        world = root / "world"
        generate_world(WorldConfig(seed=7, n_families=args.families), world)
        results = {db: run_db(db, world, args.families, levels, args.seconds, args.workers, args.start_timeout,
                              args.py_spy, args.client)
                   for db in (args.db or ["sqlite", "postgres"])}
    finally:
        shutil.rmtree(root, ignore_errors=True)
    text = table(results)
    print(text)
    print(f"({machine.describe()})")
    if args.write:
        with args.write.open("a") as f:
            f.write(f"\n## Request Data PKH under load (issue 9, part 4)\n\n"
                    f"`.venv/bin/python bench/bench_checks_load.py --families {args.families} "
                    f"{' '.join('--db ' + d for d in results)} --levels {args.levels} --seconds {args.seconds:g} "
                    f"--workers {args.workers} --write docs/benchmarks.md` — {machine.describe()}; "
                    f"each level a closed loop of {args.seconds:g} s, operators = "
                    f"{args.client} of the load generator on the same machine; {args.workers} uvicorn workers per "
                    f"service (hub, EMIS, Dapodik).\n\n{text}\n")


if __name__ == "__main__":
    main()
