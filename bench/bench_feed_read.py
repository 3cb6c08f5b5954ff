"""Dapodik's ``POST /api/v1/hub/feed-read`` on a large feed: each school's last record, found two ways.

    .venv/bin/python bench/bench_feed_read.py [--schools 20000] [--students 2000000] [--repeat 3]

A ranged first sync ends with the hub telling Dapodik it holds the whole feed up to a position
(``sinkronisasi.repository.raise_positions_upto``). Each school's read position then moves to its last record in
the feed at or before that position: nationally ~448,000 schools and ~53 M records, once per ranged first sync.

The bench builds a fresh PostgreSQL database (127.0.0.1:5432, user postgres, dropped at the end) with the gateway's
migrations. It fills ``sekolah`` and ``peserta_didik`` by ``generate_series``: records spread over the schools,
change numbers from a few loads and many single changes, 1 % deleted, 1 % not validated. Then it times, ``--repeat``
times each, alternating:

- the window over the feed (``row_number() OVER (PARTITION BY sekolah_id ...)``), the statement before session 21,
  kept as the SQLite path;
- one backward probe of ``ix_peserta_didik_sekolah_change_seq_id`` per school (``LATERAL ... LIMIT 1``), the
  PostgreSQL path since session 21.

It reports each one's median wall time, the backend's CPU (``pg_stat_statements`` is not needed: the bench reads
the backend's ``/proc/<pid>/stat``) and the temporary files written. It checks that both find the same rows. Then it
runs the whole call once, the upsert of the positions included. No test asserts any figure.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa
from sqlmodel import Session

from bench.machine import describe
from services.dapodik_gateway.db import MIGRATIONS
from services.dapodik_gateway.sinkronisasi import repository as repo
from shared.clock import utcnow
from shared.db import make_engine, migrate
from shared.testing import fresh_postgres_database


def fill(engine: sa.Engine, schools: int, students: int) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO sekolah (sekolah_id, npsn, nama, bentuk_pendidikan, status_sekolah, kode_wilayah, "
            "create_date, last_update, soft_delete) SELECT md5('s' || i)::uuid::text, lpad(i::text, 8, '0'), "
            "'SEKOLAH ' || i, 'SD', 'NEGERI', '3201010001', now(), now(), false FROM generate_series(1, :n) AS i"),
            {"n": schools})
        # change numbers: 60 % from one first load (seq 1), the rest one change each, in a random order
        conn.execute(sa.text(
            "INSERT INTO peserta_didik (peserta_didik_id, sekolah_id, nama, jenis_kelamin, tanggal_lahir, "
            "tingkat_pendidikan_id, nama_ibu_kandung, status_validasi, create_date, last_update, change_seq, "
            "soft_delete, nipd, tempat_lahir, nama_ayah, nama_wali, penerima_kps, penerima_kip, layak_pip) "
            "SELECT md5('p' || i)::uuid::text, md5('s' || (1 + (hashint % :schools)))::uuid::text, "
            "'SISWA', 'L', date '2015-01-01', 1, 'IBU', CASE WHEN i % 100 = 7 THEN NULL ELSE 0 END, now(), now(), "
            "CASE WHEN i % 10 < 6 THEN 1 ELSE 2 + (hashint % :students) END, i % 100 = 3, '', '', '', '', false, "
            "false, false "
            "FROM (SELECT i, abs(hashtext(i::text)) AS hashint FROM generate_series(1, :students) AS i) AS g"),
            {"schools": schools, "students": students})
        conn.execute(sa.text("UPDATE change_counter SET value = :v WHERE name = 'peserta_didik'"),
                     {"v": students + 2})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE sekolah"))
        conn.execute(sa.text("VACUUM ANALYZE peserta_didik"))


def backend_cpu(conn: sa.Connection) -> float:
    pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def temp_bytes(conn: sa.Connection) -> int:
    return int(conn.execute(sa.text(
        "SELECT temp_bytes FROM pg_stat_database WHERE datname = current_database()")).scalar_one())


def timed(engine: sa.Engine, how: str, upto: repo.paging.SeqCursor) -> tuple[float, float, int, list[tuple]]:
    stmt = sa.select(repo._last_per_school(how, upto)).order_by(sa.text("1"))
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))
        cpu0, tmp0, t0 = backend_cpu(conn), temp_bytes(conn), time.perf_counter()
        rows = [tuple(r) for r in conn.execute(stmt)]
        wall = time.perf_counter() - t0
        time.sleep(0.6)  # the statistics collector's report of temp files
        return wall, backend_cpu(conn) - cpu0, temp_bytes(conn) - tmp0, rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--schools", type=int, default=20_000)
    ap.add_argument("--students", type=int, default=2_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with fresh_postgres_database() as url:  # dropped at the end (shared.testing)
        migrate(MIGRATIONS, url)
        engine = make_engine(url)
        t = time.perf_counter()
        fill(engine, args.schools, args.students)
        print(f"filled {args.schools:,} schools, {args.students:,} records in {time.perf_counter() - t:.1f} s")
        upto = repo.paging.SeqCursor(args.students + 2, "ffffffff-ffff-ffff-ffff-ffffffffffff")
        got: dict[str, list[tuple[float, float, int]]] = {"window": [], "probe": []}
        found: dict[str, list[tuple]] = {}
        for _ in range(args.repeat):
            for label, how in (("window", "sqlite"), ("probe", "postgresql")):
                wall, cpu, tmp, rows = timed(engine, how, upto)
                got[label].append((wall, cpu, tmp))
                found[label] = rows
        assert found["window"] == found["probe"], "the two statements disagree"
        print(f"\n{describe()}\n")
        print("| statement | median wall s | median backend CPU s | temp files MB | schools found |")
        print("|---|---|---|---|---|")
        for label in got:
            walls, cpus, tmps = zip(*got[label], strict=True)
            print(f"| {label} | {statistics.median(walls):.2f} | {statistics.median(cpus):.2f} | "
                  f"{statistics.median(tmps) / 1e6:.0f} | {len(found[label]):,} |")
        with Session(engine) as session:
            t = time.perf_counter()
            moved = repo.raise_positions_upto(session, upto, "sync_hub", utcnow())
            session.commit()
            print(f"\nthe whole call (probes + upsert of {moved:,} positions, commit): "
                  f"{time.perf_counter() - t:.2f} s; load average {os.getloadavg()[0]:.1f}")
        engine.dispose()


if __name__ == "__main__":
    main()
