"""Random against time-ordered ids for the rows a sync writes per value: PostgreSQL's CPU and WAL for the inserts.

    .venv/bin/python bench/bench_ids.py [--rows 430000] [--prefill 0] [--batch 3000] [--rounds 2]

Two tables shaped as the hub's ``provenance`` (id primary key, provenance id, target: three indexes) and
``ledger_entry`` (seq primary key, record id, hash prefix: three indexes) are made in a fresh database (127.0.0.1:5432,
user postgres, dropped at the end). ``--prefill`` rows go in first, untimed, with the same kind of ids, as a hub that
has synced before. Then ``--rows`` rows go in as a unit's push writes them: COPY in batches of ``--batch`` rows,
each provenance row's id named by its ledger entry, four rows sharing an item's provenance id, and a ``CHECKPOINT``
every 40 batches. That is done with version 4 ids (``uuid.uuid4``, as before session 21) and with version 7 ids
(``shared.ids.uuid7_texts``), alternating, ``--rounds`` times each. Reported: the backend's CPU for the timed COPYs
(``/proc/<pid>/stat``), the WAL they wrote (``pg_current_wal_lsn``) and the indexes' sizes. No test asserts any
figure.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg

from bench.machine import describe
from shared.ids import uuid7_texts

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
SCHEMA = """
CREATE TABLE prov (id varchar(36) PRIMARY KEY, provenance_id varchar(36) NOT NULL, target_system varchar(16),
                   target_record varchar(64), field varchar(40), value_json text, written_at timestamptz);
CREATE INDEX ON prov (provenance_id);
CREATE INDEX ON prov (target_system, target_record);
CREATE TABLE le (seq bigint PRIMARY KEY, kind varchar(32), record_id varchar(36), record_hash varchar(64),
                 chain_hash varchar(64), appended_at timestamptz);
CREATE INDEX ON le (record_id);
CREATE INDEX ON le (substr(record_hash, 1, 16));
"""


def uuid4_texts(n: int) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(n)]


def backend_cpu(conn: psycopg.Connection) -> float:
    pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Writer:
    def __init__(self, conn: psycopg.Connection, ids: Callable[[int], list[str]]) -> None:
        self.conn, self.ids, self.seq = conn, ids, 0

    def batch(self, size: int) -> None:
        rows, items = self.ids(size), self.ids(size // 4 + 1)
        with self.conn.cursor() as cur:
            with cur.copy("COPY prov FROM STDIN") as copy:
                for i, rid in enumerate(rows):
                    copy.write_row((rid, items[i // 4], "dapodik", str(uuid.uuid4()), f"f{i % 4}", "true",
                                    "2026-12-05 00:00:00+00"))
            with cur.copy("COPY le FROM STDIN") as copy:
                for rid in rows:
                    self.seq += 1
                    copy.write_row((self.seq, "provenance", rid, secrets.token_hex(32), secrets.token_hex(32),
                                    "2026-12-05 00:00:00+00"))
        self.conn.commit()


def one(kind: str, args: argparse.Namespace, admin: psycopg.Connection) -> tuple[float, float, float]:
    name = f"jb_bench_ids_{uuid.uuid4().hex[:8]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{name}") as conn:
            conn.execute(SCHEMA)
            conn.commit()
            writer = Writer(conn, uuid4_texts if kind == "v4" else uuid7_texts)
            for _ in range(0, args.prefill, 20_000):
                writer.batch(20_000)
            admin.execute("CHECKPOINT")
            lsn0 = conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0]  # type: ignore[index]
            conn.commit()
            cpu = 0.0
            for n, _ in enumerate(range(0, args.rows, args.batch)):
                before = backend_cpu(conn)
                writer.batch(args.batch)
                cpu += backend_cpu(conn) - before
                if n % 40 == 39:
                    admin.execute("CHECKPOINT")
            wal = conn.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s)", (lsn0,)).fetchone()[0]  # type: ignore[index]
            size = conn.execute("SELECT sum(pg_relation_size(indexrelid)) FROM pg_index "
                                "WHERE indrelid IN ('prov'::regclass, 'le'::regclass)").fetchone()[0]  # type: ignore[index]
            return cpu, float(wal) / 1e6, float(size) / 1e6
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=430_000)
    ap.add_argument("--prefill", type=int, default=0)
    ap.add_argument("--batch", type=int, default=3_000)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    got: dict[str, list[tuple[float, float, float]]] = {"v4": [], "v7": []}
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        for _ in range(args.rounds):
            for kind in got:
                got[kind].append(one(kind, args, admin))
                cpu, wal, size = got[kind][-1]
                print(f"{kind} CPU {cpu:.2f} s, WAL {wal:.0f} MB, indexes {size:.0f} MB", flush=True)
    print(f"\n{describe()}; {args.prefill:,} rows before, {args.rows:,} timed in batches of {args.batch:,}\n")
    print("| ids | backend CPU, median | WAL, median | indexes at the end |")
    print("|---|---|---|---|")
    for kind, runs in got.items():
        cpu, wal, size = (statistics.median(x) for x in zip(*runs, strict=True))
        print(f"| {kind} | {cpu:.2f} s | {wal:.0f} MB | {size:.0f} MB |")


if __name__ == "__main__":
    main()
