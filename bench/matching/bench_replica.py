"""The hub's registry replica: following kemensos's change feed from empty, in process.

    .venv/bin/python -m bench.matching.bench_replica [--families 5000] [--db sqlite|postgres]
                                                    [--data data/bench_replica] [--label after] [--write]

Generates a world (``worldgen``, seed 7) and loads its registry into kemensos_mock (its CLI, SQLite), then
runs kemensos as its own process (uvicorn on a free port, as ``jembatan demo`` does; ``--kemensos
inprocess`` uses a FastAPI TestClient in this process instead) and measures:

* ``feed``     pages of ``GET /api/v1/changes`` (limit 1000) read to the end, nothing applied: what kemensos
               and the transport cost; and the same pages built by ``changes.service.list_changes`` directly
               (no HTTP), to see the server's own share;
* ``refresh``  ``replica.refresh`` into an empty hub database (SQLite file or a fresh PostgreSQL database):
               the feed plus applying each page; the time inside ``_apply`` is reported on its own;
* ``load``     ``replica.load``: the replica as the matcher's frames (names normalised);
* ``again``    ``replica.refresh`` once caught up (one empty page), and one page delivered again
               (every item older than what the replica holds).

"registry phase" = refresh + load, what a sync run's ``registry`` phase costs on a first run. The machine
is shared: the CPU time of the hub's process (and of kemensos's) is given next to the wall time. Figures
are printed, and appended to docs/benchmarks.md with ``--write``. No test asserts any figure.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

import httpx
from sqlmodel import Session

from jembatan.stack import Stack, free_port
from services.kemensos_mock.changes import service as feed_service
from services.kemensos_mock.changes.schemas import ChangesQuery
from services.kemensos_mock.config import Settings as KemensosSettings
from services.kemensos_mock.main import create_app as kemensos_app
from services.sync_hub.main import MIGRATIONS
from services.sync_hub.replica import service as replica
from shared.clients import KemensosClient
from shared.db import make_engine, migrate
from shared.testing import fresh_postgres_database

TOKEN = "bench-token-0123456789abcdef"
BASE = "http://testserver"
PAGE = 1000


def world(root: Path, families: int) -> Path:
    from worldgen.config import WorldConfig
    from worldgen.generate import generate_world

    out = root / f"world_{families}"
    if not (out / "kemensos" / "keluarga.jsonl").exists():
        generate_world(WorldConfig(seed=7, n_families=families), out)
    return out


def kemensos_db(root: Path, world_dir: Path, families: int) -> Path:
    db = root / f"kemensos_{families}.db"
    if not db.exists():
        env = dict(os.environ, KEMENSOS_DATABASE_URL=f"sqlite:///{db}", KEMENSOS_LOG_LEVEL="WARNING")
        subprocess.run([sys.executable, "-m", "services.kemensos_mock", "load", str(world_dir / "kemensos"),
                        "--replace"], env=env, check=True, stdout=subprocess.DEVNULL)
    return db


@contextmanager
def hub_db(kind: str, root: Path) -> Iterator[str]:
    if kind == "postgres":
        with fresh_postgres_database() as url:
            yield url
        return
    path = root / "hub_replica.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    yield f"sqlite:///{path}"


def _cpu_of(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def kemensos(kdb: Path, mode: str) -> Iterator[tuple[KemensosClient, int | None]]:
    """A client of kemensos serving ``kdb``, and the pid of its process (None in process)."""
    if mode == "inprocess":
        app = kemensos_app(KemensosSettings(database_url=f"sqlite:///{kdb}", api_tokens={"sync_hub": TOKEN},
                                            log_level="WARNING"))
        with TestClient(app, base_url=BASE) as http:
            yield KemensosClient(BASE, TOKEN, http=http), None
        return
    stack = Stack(kdb.parent, ports={"kemensos_mock": free_port()}, database_urls={"kemensos_mock": f"sqlite:///{kdb}"},
                  log_level="WARNING")
    env = stack.env("kemensos_mock")
    proc = subprocess.Popen([sys.executable, "-m", "services.kemensos_mock", "serve"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    stack.procs["kemensos_mock"] = proc
    try:
        url = stack.url("kemensos_mock")
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("kemensos_mock did not start")
            time.sleep(0.2)
        client = KemensosClient(url, stack.creds.hub_to_kemensos)
        try:
            yield client, proc.pid
        finally:
            client.close()
    finally:
        stack.stop()


class Clock:
    def __init__(self, pid: int | None) -> None:
        self.pid = pid
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        self.other = _cpu_of(pid) if pid else 0.0

    def read(self) -> dict[str, float]:
        out = {"wall_s": round(time.perf_counter() - self.wall, 2),
               "hub_cpu_s": round(time.process_time() - self.cpu, 2)}
        if self.pid:
            out["kemensos_cpu_s"] = round(_cpu_of(self.pid) - self.other, 2)
        return out


def server_side(kdb: Path) -> dict[str, float]:
    """kemensos building every page (``changes.service.list_changes``) and its JSON, without HTTP."""
    engine = make_engine(f"sqlite:///{kdb}")
    cursor, built, serialise, cpu = None, 0.0, 0.0, time.process_time()
    while True:
        with Session(engine) as session:
            t = time.perf_counter()
            page = feed_service.list_changes(session, ChangesQuery(cursor=cursor, limit=PAGE))
            t2 = time.perf_counter()
            page.model_dump_json()
            built, serialise = built + t2 - t, serialise + time.perf_counter() - t2
        if not page.has_more:
            break
        cursor = page.next_cursor
    engine.dispose()
    return {"list_changes_s": round(built, 2), "to_json_s": round(serialise, 2),
            "cpu_s": round(time.process_time() - cpu, 2)}


def run(families: int, db_kind: str, root: Path, mode: str) -> dict[str, object]:
    root.mkdir(parents=True, exist_ok=True)
    w = world(root, families)
    kdb = kemensos_db(root, w, families)
    out: dict[str, object] = {"families": families, "db": db_kind, "kemensos": mode,
                              "load_average": round(os.getloadavg()[0], 1)}
    out["feed_server_side"] = server_side(kdb)
    with kemensos(kdb, mode) as (client, pid):
        c = Clock(pid)
        pages = items = 0
        for page in client.iter_changes(None, limit=PAGE):
            pages, items = pages + 1, items + len(page.items)
        out["feed"] = {"pages": pages, "items": items, **c.read()}

        with hub_db(db_kind, root) as url:
            migrate(MIGRATIONS, url)
            hub = make_engine(url)
            applying = [0.0]
            original = replica._apply

            def timed(session, page, normal=None):  # type: ignore[no-untyped-def]
                t = time.perf_counter()
                try:
                    return original(session, page, normal)
                finally:
                    applying[0] += time.perf_counter() - t

            replica._apply = timed  # type: ignore[assignment]
            try:
                c = Clock(pid)
                result = replica.refresh(hub, client, page_size=PAGE)
                out["refresh"] = {"pages": result.pages, "changes": result.changes, **c.read(),
                                  "apply_s": round(applying[0], 2)}
                c = Clock(None)
                registry = replica.load(hub)
                out["load"] = {"persons": registry.persons.height, "families": registry.families.height, **c.read()}
                out["registry_phase_s"] = round(out["refresh"]["wall_s"] + out["load"]["wall_s"], 2)  # type: ignore[index]
                c = Clock(None)
                replica.refresh(hub, client, page_size=PAGE)
                out["again_caught_up_s"] = c.read()["wall_s"]
                first = next(client.iter_changes(None, limit=PAGE))
                with replica.session_scope(hub) as session:
                    c = Clock(None)
                    replica._apply(session, first)
                    out["page_delivered_again_s"] = c.read()["wall_s"]
            finally:
                replica._apply = original  # type: ignore[assignment]
                hub.dispose()
    return out


def _t(m: dict) -> str:  # type: ignore[type-arg]
    cpu = f"hub {m['hub_cpu_s']}" + (f", kemensos {m['kemensos_cpu_s']}" if "kemensos_cpu_s" in m else "")
    return f"{m['wall_s']} ({cpu})"


def markdown(results: list[dict], label: str) -> str:  # type: ignore[type-arg]
    lines = [
        f"#### Replica from an empty hub ({label})", "",
        f"`.venv/bin/python -m bench.matching.bench_replica` — {platform.machine()}, Python "
        f"{platform.python_version()}, {date.today().isoformat()}, {os.cpu_count()} CPUs shared with other work "
        "(load average at the start of each run in the table). Seconds: wall (CPU of each process).", "",
        "| families (registry persons) | hub DB | kemensos | load avg | pages | feed only | kemensos building the "
        "pages (no HTTP) | refresh | of which applying | load (frames) | **registry phase** | caught up | page again |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        f, s, rf, ld = r["feed"], r["feed_server_side"], r["refresh"], r["load"]
        lines.append(
            f"| {r['families']:,} ({ld['persons']:,}) | {r['db']} | {r['kemensos']} | {r['load_average']} | "
            f"{f['pages']} | {_t(f)} | "
            f"{s['list_changes_s']} + {s['to_json_s']} JSON | {_t(rf)} | {rf['apply_s']} | {_t(ld)} | "
            f"**{r['registry_phase_s']}** | {r['again_caught_up_s']} | {r['page_delivered_again_s']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--families", default="5000", help="comma-separated world sizes")
    ap.add_argument("--db", default="sqlite", help="comma-separated: sqlite, postgres")
    ap.add_argument("--data", default="data/bench_replica")
    ap.add_argument("--kemensos", default="process", choices=["process", "inprocess"])
    ap.add_argument("--label", default="after: set-wise pages")
    ap.add_argument("--write", action="store_true", help="append the table to docs/benchmarks.md")
    a = ap.parse_args()
    results = []
    for families in [int(x) for x in a.families.split(",")]:
        for db in a.db.split(","):
            r = run(families, db, Path(a.data), a.kemensos)
            print(r, flush=True)
            results.append(r)
    text = markdown(results, a.label)
    print(text)
    if a.write:
        write_docs(text)


SECTION = "## Registry replica (`bench/matching/bench_replica.py`)"
INTRO = """The hub's copy of the registry, read from kemensos's change feed into an empty hub database (the first
sync's `registry` phase: refresh + load). Kemensos in process (TestClient): its page building, the JSON
both ways and the hub's parsing are all in the figures. See `docs/matching.md` section 4."""


def write_docs(table: str) -> None:
    """Append ``table`` at the end of this benchmark's section of docs/benchmarks.md (made if missing)."""
    path = Path("docs/benchmarks.md")
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    start = text.find(SECTION)
    if start < 0:
        text = text.rstrip("\n") + f"\n\n{SECTION}\n\n{INTRO}\n\n{table}"
    else:
        end = text.find("\n## ", start + len(SECTION))
        end = len(text) if end < 0 else end + 1
        text = text[:end].rstrip("\n") + "\n\n" + table + ("\n" + text[end:] if end < len(text) else "")
    path.write_text(text)


if __name__ == "__main__":
    main()
