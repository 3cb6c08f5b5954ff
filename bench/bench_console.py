"""Console page loads at the 100k-student scale: server time of the outcomes list, the region chart, filters, the
CSV export and the runs page.

The hub's tables are filled directly (no world generation or sync, which take many minutes at this size): one
finished run, and for each student its mirror row (school, kode_wilayah), its current status and its outcome, with
schools spread over real kabupaten codes (``shared.regions``) in the proportions of the generated worlds (the
larger provinces of Java hold most students) and the outcome mix of the demo world. The queries the console runs
are then the same as on a synced world of that size. Each page is requested in process (Starlette's TestClient: no
socket, so the figure is the server's time: routing, session, queries, template), ``--repeat`` times; medians and
maxima are printed and, with ``--write``, appended to docs/benchmarks.md.

    .venv/bin/python bench/bench_console.py --students 100000 [--db postgres] [--write]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import tempfile
import time
import uuid
import warnings
from datetime import date, timedelta
from pathlib import Path

import sqlalchemy as sa

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from services.sync_hub.config import Settings
from services.sync_hub.console import auth
from services.sync_hub.main import create_app
from services.sync_hub.mirror.models import StudentMirrorRow
from services.sync_hub.runs.models import StudentOutcomeRow, StudentStatusRow, SyncRunRow
from shared.clock import utcnow
from shared.regions import known_kabupaten
from shared.testing import fresh_postgres_database

OUTCOMES = [("NOT_PKH_RECIPIENT", 0.50, "nik"), ("NOT_REGISTERED", 0.22, "nik"), ("PKH_RECIPIENT", 0.20, "nik"),
            ("NIK_INVALID", 0.03, "none"), ("NO_NIK", 0.02, "none"), ("LINKED_BY_FALLBACK", 0.02, "fallback"),
            ("NIK_MISMATCH", 0.008, "none"), ("IN_REVIEW", 0.002, "none")]
BIG = {"32": 0.20, "35": 0.16, "33": 0.14, "31": 0.04, "36": 0.05, "12": 0.05, "73": 0.04}


def fill(url: str, students: int, seed: int = 7) -> str:
    rnd = random.Random(seed)
    engine = sa.create_engine(url)
    kabs = sorted(known_kabupaten())
    per_province: dict[str, int] = {}
    for k in kabs:
        per_province[k[:2]] = per_province.get(k[:2], 0) + 1
    others = sum(n for p, n in per_province.items() if p not in BIG)
    weights = [BIG[k[:2]] / per_province[k[:2]] if k[:2] in BIG else (1 - sum(BIG.values())) / others for k in kabs]
    schools = [(f"{uuid.UUID(int=rnd.getrandbits(128))}", kab + f"{rnd.randint(10, 99)}{rnd.randint(1000, 1999)}")
               for kab in rnd.choices(kabs, weights=weights, k=max(1, students // 180))]
    now = utcnow()
    run = str(uuid.uuid4())
    counts: dict[str, int] = {}
    mirror, status, outcome = [], [], []
    for i in range(students):
        system = "emis" if i % 5 == 0 else "dapodik"
        sid = str(uuid.UUID(int=rnd.getrandbits(128)))
        school, region = rnd.choice(schools)
        r, acc = rnd.random(), 0.0
        for name, p, key in OUTCOMES:  # noqa: B007  (the one drawn is kept after the break)
            acc += p
            if r <= acc:
                break
        counts[name] = counts.get(name, 0) + 1
        kk = f"{region[:6]}{rnd.randint(0, 10**10 - 1):010d}" if key != "none" else None
        mirror.append({"system": system, "student_id": sid, "school": school, "region": region, "nama": "x",
                       "jenis_kelamin": "L", "tanggal_lahir": date(2012, 1, 1) + timedelta(days=i % 3000),
                       "current_json": "{}", "attested_json": "{}", "aktif": True, "held_back": False,
                       "source_version": 0})
        status.append({"system": system, "student_id": sid, "region": region, "outcome": name, "no_kk": kk,
                       "sync_run_id": run, "updated_at": now})
        outcome.append({"sync_run_id": run, "system": system, "student_id": sid, "outcome": name,
                        "detail": f"family found by {key}" if key != "none" else "no usable NIK",
                        "matched_by": key, "no_kk": kk})
    with engine.begin() as conn:
        conn.execute(sa.insert(SyncRunRow.__table__), [{  # type: ignore[attr-defined]
            "id": run, "status": "SUCCEEDED", "trigger": "bench", "systems": ["emis", "dapodik"], "created_at": now,
            "started_at": now, "finished_at": now, "students_read": students, "outcomes": counts, "timings": {},
            "errors": [], "full": True, "planned_at": now, "verifications": {}, "at_risk": {}}])
        for table, rows in ((StudentMirrorRow, mirror), (StudentStatusRow, status), (StudentOutcomeRow, outcome)):
            for start in range(0, len(rows), 10_000):
                conn.execute(sa.insert(table.__table__), rows[start:start + 10_000])  # type: ignore[attr-defined]
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text("ANALYZE"))
    engine.dispose()
    return run


def measure(url: str, keys: Path, students: int, repeat: int) -> list[tuple[str, float, float, int]]:
    settings = Settings(database_url=url, local_key_dir=keys, replica_follow_seconds=0)
    app = create_app(settings)
    out = []
    with TestClient(app) as http:
        app.state.runs.shutdown()
        started = time.perf_counter()
        run = fill(url, students)
        print(f"filled {students:,} students in {time.perf_counter() - started:.1f} s")
        from shared.oidc import LocalIssuer

        token = LocalIssuer(keys).issue("bench", ["viewer"])
        cookie = {"Cookie": f"{auth.COOKIE}={token}"}
        pages = [
            ("outcomes: every student's current outcome, first page + count + chart by province", "/console/outcomes"),
            ("outcomes: one province (Jawa Barat), chart by kabupaten", "/console/outcomes?province=32"),
            ("outcomes: one kabupaten", "/console/outcomes?kabupaten=3201"),
            ("outcomes: system + outcome filter", "/console/outcomes?system=dapodik&outcome=NOT_REGISTERED"),
            ("outcomes: one run's outcomes", f"/console/outcomes?run={run}"),
            ("outcomes: a page far down (keyset)", "/console/outcomes?after=dapodik:f0000000"),
            ("runs", "/console/runs"),
            ("export: CSV of one province", "/console/outcomes/export?province=32&format=csv"),
            ("export: CSV of every student", "/console/outcomes/export?format=csv"),
        ]
        for name, path in pages:
            times, size = [], 0
            for i in range(repeat + 1):
                t0 = time.perf_counter()
                r = http.get(path, headers=cookie)
                elapsed = time.perf_counter() - t0
                assert r.status_code == 200, (path, r.status_code, r.text[-500:])
                size = len(r.content)
                if i:  # the first request warms the caches (templates, region names, the database's pages)
                    times.append(elapsed)
            out.append((name, statistics.median(times), max(times), size))
            print(f"{name:<80} median {statistics.median(times) * 1000:8.1f} ms  max {max(times) * 1000:8.1f} ms  "
                  f"{size:,} bytes")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--students", type=int, default=100_000)
    ap.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--write", action="store_true", help="append the figures to docs/benchmarks.md")
    args = ap.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        if args.db == "postgres":
            with fresh_postgres_database() as url:
                rows = measure(url, Path(tmp) / "keys", args.students, args.repeat)
        else:
            rows = measure(f"sqlite:///{tmp}/hub.db", Path(tmp) / "keys", args.students, args.repeat)
    load_after = os.getloadavg()
    loads = f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after"
    print(loads)
    if args.write:
        lines = [f"\n### Console page loads — {args.students:,} students, {args.db} ({platform.machine()}, "
                 f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}, {loads})\n",
                 f"`.venv/bin/python bench/bench_console.py --students {args.students} --db {args.db}` — server time "
                 f"in process, median of {args.repeat} after one warm-up request.\n",
                 "| page | median | max | response |", "|---|---|---|---|"]
        lines += [f"| {n} | {m * 1000:,.0f} ms | {x * 1000:,.0f} ms | {s:,} B |" for n, m, x, s in rows]
        with open(Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md", "a") as f:
            f.write("\n".join(lines) + "\n")
    print(json.dumps({n: round(m * 1000, 1) for n, m, _, _ in rows}))


if __name__ == "__main__":
    main()
