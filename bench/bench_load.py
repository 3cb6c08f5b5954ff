"""Loading a world into the three upstream services' databases, timed per service.

    .venv/bin/python bench/bench_load.py --students 1000000 [--world DIR] [--postgres URL] [--write docs/benchmarks.md]

Generates a world (or takes ``--world DIR``, e.g. one kept by ``bench_worldgen.py --keep DIR``) and runs
each service's own loader as the operator would, ``python -m services.<name> load DIR/<part> --replace``,
against a fresh database: SQLite files by default, or with ``--postgres postgresql+psycopg://user@host/db``
a new database per service created next to the given one (and dropped afterwards). Reports the wall
time and peak resident memory of each load process (``os.wait4``) and the rows it loaded. No test
asserts any figure here.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from jembatan.stack import PREFIX, SERVICES, WORLD_DIRS, Stack, free_port

FILES = {
    "kemensos_mock": ("keluarga.jsonl", "anggota_keluarga.jsonl", "pkh.jsonl", "kip.jsonl", "bansos.jsonl",
                      "kk_history.jsonl"),
    "emis_gateway": ("madrasah.jsonl", "siswa.jsonl"),
    "dapodik_gateway": ("sekolah.jsonl", "peserta_didik.jsonl"),
}


def _rows(path: Path) -> int:
    with path.open("rb") as fh:
        return sum(1 for _ in fh)


def _pg_database(admin_url: str, name: str, create: bool) -> str:
    """Create (or drop) database ``name`` on the server of ``admin_url``; return its SQLAlchemy URL."""
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(admin_url)
    plain = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        if create:
            conn.execute(f'CREATE DATABASE "{name}"')
    return url.set(database=name).render_as_string(hide_password=False)


def load_one(stack: Stack, service: str, world: Path, database_url: str) -> dict[str, float | int | str]:
    env = stack.env(service)
    env[f"{PREFIX[service]}DATABASE_URL"] = database_url
    env[f"{PREFIX[service]}LOG_LEVEL"] = "WARNING"
    part = world / WORLD_DIRS[service]
    cmd = [sys.executable, "-m", f"services.{service}", "load", str(part), "--replace"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    out = (proc.stdout.read() if proc.stdout else "") + (proc.stderr.read() if proc.stderr else "")
    if proc.returncode != 0:
        raise RuntimeError(f"{service} load failed ({proc.returncode}):\n{out[-3000:]}")
    rows = sum(_rows(part / f) for f in FILES[service] if (part / f).exists())
    return {"service": service, "wall_s": wall, "peak_mib": usage.ru_maxrss / 1024, "rows": rows,
            "output": out.strip().splitlines()[-1] if out.strip() else ""}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--students", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--world", type=Path, help="Use this generated world instead of generating one")
    ap.add_argument("--postgres", help="Load into PostgreSQL databases created on this server "
                    "(e.g. postgresql+psycopg://postgres@127.0.0.1:5432/postgres)")
    ap.add_argument("--only", choices=list(WORLD_DIRS), action="append", help="Load only this service's part "
                    "(repeatable; default: all three)")
    ap.add_argument("--write", type=Path, help="Append a results section to this markdown file")
    args = ap.parse_args()
    services = args.only or list(WORLD_DIRS)
    base = Path(tempfile.mkdtemp(prefix="jembatan-load-"))
    results = []
    try:
        world = args.world
        gen_note = f"world given ({world})"
        if world is None:  # in a child process, so that the loaders do not inherit a large parent's pages
            world = base / "world"
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "worldgen", "generate", "--students", str(args.students),
                            "--seed", str(args.seed), "--out", str(world)], check=True, capture_output=True)
            gen_note = f"world generated in {time.perf_counter() - t:.1f} s"
        manifest = json.loads((world / "world.json").read_text())
        stack = Stack(base / "stack", ports={s: free_port() for s in SERVICES}, log_level="WARNING")
        for service in services:
            if args.postgres:
                name = f"bench_load_{service}_{os.getpid()}"
                url = _pg_database(args.postgres, name, create=True)
            else:
                (base / "db").mkdir(exist_ok=True)
                url = f"sqlite:///{base / 'db' / service}.db"
            try:
                result = load_one(stack, service, world, url)
            finally:
                if args.postgres:
                    _pg_database(args.postgres, name, create=False)
            results.append(result)
            rate = float(result["rows"]) / float(result["wall_s"])
            print(f"{service}: {result['rows']:,} rows in {result['wall_s']:.1f} s ({rate:,.0f} rows/s), "
                  f"peak {result['peak_mib']:,.0f} MiB", flush=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    db = "PostgreSQL" if args.postgres else "SQLite"
    students = manifest["counts"]["emis/siswa.jsonl"] + manifest["counts"]["dapodik/peserta_didik.jsonl"]
    flag = " --postgres URL" if args.postgres else ""
    source = f"--world {args.world}" if args.world else f"--students {args.students}"
    source += "".join(f" --only {s}" for s in args.only or [])
    lines = [
        f"### Loading a {students:,}-student world into the upstream services — {db} "
        f"({platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{datetime.now(UTC):%Y-%m-%d}, load average {os.getloadavg()[0]:.1f})",
        "",
        f"Command: `.venv/bin/python bench/bench_load.py {source}{flag}` ({gen_note})",
        "",
        "| service (`python -m services.<name> load DIR --replace`) | rows | wall time | rows/s | peak memory |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(f"| {r['service']} | {r['rows']:,} | {float(r['wall_s']):.1f} s | "
                     f"{float(r['rows']) / float(r['wall_s']):,.0f} | {float(r['peak_mib']):,.0f} MiB |")
    total = sum(float(r["wall_s"]) for r in results)
    if len(results) > 1:
        lines.append(f"| **all, one after the other** | {sum(int(r['rows']) for r in results):,} | "
                     f"**{total:.1f} s** | | |")
    lines.append("")
    text = "\n".join(lines)
    print(text)
    if args.write:
        args.write.parent.mkdir(parents=True, exist_ok=True)
        with args.write.open("a", encoding="utf-8") as fh:
            fh.write("\n" + text)


if __name__ == "__main__":
    main()
