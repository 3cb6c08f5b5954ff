"""Reading and deciding a unit's students (``sync/unit.py`` steps 2-3), alone, on a hub database a full sync filled.

    .venv/bin/python bench/bench_unit_decide.py HUB_DATABASE_URL [--repeat 3] [--dump OUT.jsonl]

The hub database is one ``bench/bench_sync_e2e.py --db postgres --first-only --keep`` left behind (or any hub
database holding a finished run). For every decide unit of the latest run: its students from the hub's copy
(``mirror.in_region``, "read") and ``unit._decide`` (the registry slice, the matcher, KIP cards, review
decisions: "match"), exactly as a worker runs them, nothing written. Reports CPU seconds of this process and of
the PostgreSQL backends serving it (``/proc/<pid>/stat`` of ``pg_backend_pid()`` of every pooled connection)
per phase, and CPU microseconds per student; medians over ``--repeat`` rounds. ``--dump`` writes every
student's decision and KIP card (one JSON line each, in unit order) to compare two versions of the code:
decisions must not change. No test asserts any figure.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.sync_hub.config import Settings
from services.sync_hub.jobs.context import JobContext
from services.sync_hub.mirror import service as mirror
from services.sync_hub.runs.models import SyncRunRow, SyncUnitRow
from services.sync_hub.sync import unit as unit_mod
from shared.contracts.hub import SourceSystem
from shared.db import make_engine, session_scope

TICK = os.sysconf("SC_CLK_TCK")


def _cpu_of(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


class Backends:
    """The PostgreSQL backends of the engine's pooled connections (their CPU from /proc: same machine)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.pids: set[int] = set()
        self.postgres = engine.dialect.name == "postgresql"
        if self.postgres:
            sa.event.listen(engine, "connect", self._on_connect)

    def _on_connect(self, dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("SELECT pg_backend_pid()")
        self.pids.add(int(cur.fetchone()[0]))
        cur.close()
        dbapi_conn.commit()

    def cpu(self) -> float:
        return sum(_cpu_of(p) for p in self.pids)


def _decision_line(unit: str, student_id: str, d: Any, card: Any) -> dict[str, Any]:
    return {"unit": unit, "student": student_id, "outcome": d.outcome.value, "detail": d.detail,
            "by": d.matched_by.value, "no_kk": d.family.no_kk if d.family else None,
            "version": d.family.version if d.family else None, "person": d.person_nik, "notes": d.notes,
            "review": d.review_reason, "candidates": [[c.no_kk, c.version, c.nik, c.probability, c.weight]
                                                      for c in d.candidates],
            "evidence": json.loads(json.dumps(d.evidence, default=str, sort_keys=True)),
            "kip": None if card is None else card.model_dump(mode="json")}


def one_round(url: str, dump: Path | None) -> dict[str, float]:
    engine = make_engine(url)
    backends = Backends(engine)
    ctx = JobContext(db=engine, upstreams=None, settings=Settings(database_url=url))  # type: ignore[arg-type]
    with session_scope(engine) as session:
        run = session.execute(sa.select(SyncRunRow).order_by(SyncRunRow.created_at.desc()).limit(1)).scalar_one()
        units = [(u.system, u.region) for u in session.execute(
            sa.select(SyncUnitRow).where(SyncUnitRow.sync_run_id == run.id, SyncUnitRow.kind == "decide")
            .order_by(SyncUnitRow.system, SyncUnitRow.region)).scalars()]
        model_version = run.model_version
    out = {"read_cpu": 0.0, "read_pg": 0.0, "match_cpu": 0.0, "match_pg": 0.0, "students": 0, "wall": 0.0}
    digest = hashlib.sha256()
    fh = dump.open("w") if dump else None
    wall = time.perf_counter()
    for system, region in units:
        c0, p0 = time.process_time(), backends.cpu()
        with session_scope(engine) as session:
            stored = mirror.in_region(session, SourceSystem(system), region)
        students = [s.view for s in stored]
        regions = {s.view.student_id: s.region for s in stored if s.region}
        c1, p1 = time.process_time(), backends.cpu()
        decisions, kips, _ = unit_mod._decide(ctx, model_version, stored, students, regions)
        c2, p2 = time.process_time(), backends.cpu()
        out["read_cpu"] += c1 - c0
        out["read_pg"] += p1 - p0
        out["match_cpu"] += c2 - c1
        out["match_pg"] += p2 - p1
        out["students"] += len(students)
        for s, d, k in zip(students, decisions, kips, strict=True):
            line = json.dumps(_decision_line(f"{system}/{region}", s.student_id, d, k), sort_keys=True)
            digest.update(line.encode())
            if fh:
                fh.write(line + "\n")
    out["wall"] = time.perf_counter() - wall
    if fh:
        fh.close()
    out["units"] = len(units)
    out["digest"] = digest.hexdigest()[:16]  # type: ignore[assignment]
    engine.dispose()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("url")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dump", type=Path)
    args = ap.parse_args()
    rounds = [one_round(args.url, args.dump if i == 0 else None) for i in range(args.repeat)]
    med = {k: statistics.median(r[k] for r in rounds) for k in ("read_cpu", "read_pg", "match_cpu", "match_pg",
                                                                 "wall")}
    n = rounds[0]["students"]
    load = Path("/proc/loadavg").read_text().split()[:3]
    print(f"{rounds[0]['units']} units, {n} students, decisions digest {rounds[0]['digest']}, load {' '.join(load)}")
    for r in rounds:
        print("  round: " + ", ".join(f"{k} {r[k]:.2f}" for k in ("read_cpu", "read_pg", "match_cpu", "match_pg",
                                                                   "wall")))
    total = med["read_cpu"] + med["read_pg"] + med["match_cpu"] + med["match_pg"]
    print(f"median CPU s: read {med['read_cpu']:.2f} + pg {med['read_pg']:.2f}, match {med['match_cpu']:.2f} + pg "
          f"{med['match_pg']:.2f}; total {total:.2f} s = {total / n * 1e6:.0f} us/student "
          f"({n / total:.0f} students per CPU second)")


if __name__ == "__main__":
    main()
