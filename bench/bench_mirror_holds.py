"""``mirror.holds`` alone on PostgreSQL: the hub's copy of N students updated in batches of 1,000, as a unit's push
settles them, CPU of this process and of its PostgreSQL backend.

    .venv/bin/python bench/bench_mirror_holds.py [--students 21000] [--way set|rows] [--no-analyze]

``set``: the code as it is (one UPDATE per batch, ``current_of`` by primary-key seeks); ``rows``: the way it was
before h-units7 (``current_of`` as a rendered ``IN`` list, one UPDATE per student through psycopg's pipeline), kept
here only to compare with. A fresh database ``jb_bench_holds_<tag>`` on 127.0.0.1:5432 (user postgres) is filled with
the students (``mirror.store`` in pages of 1,000), ANALYZEd unless ``--no-analyze`` (as a plan leaves the copy), then
every student is updated once, in a random order's batches; the database is dropped afterwards. The backend's CPU
comes from ``/proc/<pid>/stat``. No test asserts any figure.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import psycopg
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.sync_hub.domain.students import FieldValue, StudentView
from services.sync_hub.main import MIGRATIONS
from services.sync_hub.mirror import repository as repo
from services.sync_hub.mirror import service as mirror
from shared import bulk
from shared.contracts.hub import SourceSystem
from shared.db import make_engine, migrate, session_scope

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
VALUES: dict[str, FieldValue] = {"penerima_pkh": True, "status_pkh": "PKH_RECIPIENT", "status_padan": "PADAN",
                                 "no_kks": "1234567890123456", "desil": 3}


def _stored(i: int) -> mirror.Stored:
    view = StudentView(system=SourceSystem.DAPODIK, student_id=f"pd-{i:07d}", nama=f"SISWA NAMA {i}", jenis_kelamin="P",
                       tanggal_lahir=date(2014, 1, 1), nik=f"32010147051{i:05d}", no_kk=f"32010101{i:08d}",
                       nama_ibu_kandung="AMINAH", nik_ibu=f"32010141{i:08d}", nama_ayah="BUDI",
                       nik_ayah=f"32010101{i:08d}", nama_wali="", nik_wali=None, current={"status_padan": None},
                       provenance={})
    return mirror.Stored(view, "sekolah", f"32{i % 30:02d}011001", "SD")


def _rows_way(session: sa.orm.Session, system: SourceSystem, values: dict[str, dict[str, FieldValue]]) -> None:
    """``mirror.holds`` as it was before h-units7: an ``IN`` list, then one UPDATE per student."""
    ids = sorted(values)
    stmt = sa.select(repo.MIRROR.c.student_id, repo.MIRROR.c.current_json, repo.MIRROR.c.attested_json).where(
        repo.MIRROR.c.system == system.value, repo.MIRROR.c.student_id.in_(ids))
    updates = []
    for student_id, current_json, attested_json in session.execute(stmt):
        current = {**json.loads(current_json), **values[student_id]}
        attested = sorted({*json.loads(attested_json), *values[student_id]})
        updates.append({"b_system": system.value, "b_id": student_id,
                        "current_json": json.dumps(current, sort_keys=True), "attested_json": json.dumps(attested)})
    update = (sa.update(repo.MIRROR).where(repo.MIRROR.c.system == sa.bindparam("b_system"),
                                           repo.MIRROR.c.student_id == sa.bindparam("b_id"))
              .values(current_json=sa.bindparam("current_json"), attested_json=sa.bindparam("attested_json")))
    bulk.executemany(session, update, updates)


def _backend_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--students", type=int, default=21_000)
    ap.add_argument("--way", choices=("set", "rows"), default="set")
    ap.add_argument("--no-analyze", action="store_true")
    args = ap.parse_args()
    name = f"jb_bench_holds_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    try:
        migrate(MIGRATIONS, url)
        engine = make_engine(url)
        at = datetime(2026, 8, 1, tzinfo=UTC)
        for start in range(0, args.students, 1000):
            with session_scope(engine) as session:
                mirror.store(session, [_stored(i) for i in range(start, min(start + 1000, args.students))], at)
        if not args.no_analyze:
            with engine.connect() as conn:
                conn.exec_driver_sql("ANALYZE student_mirror")
                conn.commit()
        hold = mirror.holds if args.way == "set" else _rows_way
        order = list(range(args.students))
        random.Random(1).shuffle(order)
        pg = client = 0.0
        for start in range(0, args.students, 1000):
            ids = [f"pd-{i:07d}" for i in order[start:start + 1000]]
            with session_scope(engine) as session:
                pid = session.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
                pg0, c0 = _backend_cpu(pid), time.process_time()
                hold(session, SourceSystem.DAPODIK, {i: VALUES for i in ids})
            pg, client = pg + _backend_cpu(pid) - pg0, client + time.process_time() - c0
        engine.dispose()
        print(f"bench_mirror_holds --way {args.way}{' --no-analyze' if args.no_analyze else ''}: {args.students:,} "
              f"students in batches of 1,000: PostgreSQL backend {pg:.2f} CPU-s, this process {client:.2f} CPU-s "
              f"(load {os.getloadavg()[0]:.1f})")
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
