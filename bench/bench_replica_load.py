"""The registry replica's first load: how fast the hub's follower reads a whole registry through Kemensos's change feed.

    .venv/bin/python bench/bench_replica_load.py --world DIR [--repeat 1]

A hub that has never synced holds no replica: its follower (a thread of the hub's API process,
``replica/follower.py``) reads the registry's change feed from sequence 0 into ``replica_*`` before a first sync can
decide anyone. Nationally that is DTSEN's ~95 M families and ~289 M people, through one feed. This bench loads a
world written by ``jembatan world generate`` on PostgreSQL (a fresh ``jb_bench_*`` database per service on
127.0.0.1:5432, dropped at the end), starts the Kemensos mock as a process, and runs the follower's first round
(``follower.refresh``) in this process against an empty hub database. Reported: families and people in the replica,
wall seconds, people per second, and the CPU seconds of the follower (this process), the Kemensos mock and the two
services' PostgreSQL backends (CPU is the steadier figure on a shared machine), per 1,000 people. No test asserts
any figure.

    .venv/bin/python bench/bench_replica_load.py --world DIR --ranges 16 --readers 1,2 [--repeat 1]

``--kip``: also the KIP listing read whole into the hub's ``replica_kip`` a page at a time, as a first sync's plan
reads it (one stream; ``planner._read_kip`` less its marks): cards per second and CPU per 1,000 cards. With
``--ranges K`` it is read as K ranges of card numbers (``feed_ranges.KipListing``) by the ``--readers`` processes
(the hub's CPU is theirs).

``--ranges K``: the same load read as a ranged first load (``replica/ranged.py``) of up to K ranges, by each number
of reader processes in ``--readers`` (each does what a worker's range jobs or a plan do: reads the ranges nobody
holds, then waits for the rest); ``--ranges 1`` (the default) is the follower's one stream. Each round also prints
a digest of the replica's rows (families, members, former KK numbers), to show a ranged load holds what one stream
holds.
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import statistics
import sys
import tempfile
import time
import uuid
from itertools import pairwise
from pathlib import Path
from typing import Any

import machine  # bench/machine.py: this directory is on sys.path when a bench runs as a script
from bench_sync_e2e import PgCpu, load_avg, pg_create, pg_drop, tree_cpu

from jembatan.stack import SERVICES, Stack, free_port
from services.sync_hub.replica import follower, ranged
from services.sync_hub.replica import repository as replica_repo
from services.sync_hub.sync import feed_ranges
from shared.clients import KemensosClient
from shared.clock import utcnow
from shared.db import make_engine, session_scope

DIGEST = {"replica_keluarga": "no_kk, kode_wilayah, no_kks, version, pkh_status, pkh_periode, pkh_tahun, pkh_tahap",
          "replica_anggota": "nik, no_kk, nama, jenis_kelamin, tanggal_lahir, nama_ibu_kandung, hubungan_keluarga, "
                             "nama_norm, ibu_norm, kab, inisial, sample_key",
          "replica_kk_lama": "old_kk, no_kk"}


def digest(engine: Any) -> str:
    h = hashlib.sha256()
    with engine.connect() as conn:
        for table, cols in DIGEST.items():
            for row in conn.exec_driver_sql(f"SELECT {cols} FROM {table} ORDER BY 1"):
                h.update(repr(tuple(row)).encode())
    return h.hexdigest()[:16]


def _reader(url: str, kemensos_url: str, token: str, plan: ranged.LoadPlan, out: Any) -> None:
    """A reader process: the ranges nobody holds, then wait for the rest (what a plan does)."""
    engine = make_engine(url)
    t0 = time.process_time()
    with KemensosClient(kemensos_url, token) as client:
        ranged.settle(engine, client, plan, wait=True)
    out.put(time.process_time() - t0)
    engine.dispose()


def read_kip(engine: Any, client: KemensosClient) -> int:
    """The KIP listing whole into ``replica_kip`` a page at a time (the plan's ``_read_kip`` and ``_store_kip``,
    without marking regions). Returns the cards read."""
    cards, position = 0, None
    while True:
        page = client.list_kip(position, 1000)
        if page.items:
            with session_scope(engine) as session:
                replica_repo.store_kip(session, {c.no_kip: c for c in page.items}, utcnow())
            cards += len(page.items)
        if not page.next_cursor:
            return cards
        position = page.next_cursor


def _kip_reader(url: str, kemensos_url: str, token: str, ranges: list[tuple[str | None, str | None]], out: Any
                ) -> None:
    """A reader process of the KIP listing's ranges of card numbers (what a worker's range jobs do, less the
    range rows and locks): each range's pages stored in ``replica_kip``."""
    engine = make_engine(url)
    t0, cards = time.process_time(), 0
    with KemensosClient(kemensos_url, token) as client:
        listing = feed_ranges.KipListing(client, lambda s, r, c: 0)
        for lo, hi in ranges:
            cursor = None
            while True:
                page = listing.page(cursor, lo, hi, 1000)
                if page.items:
                    with session_scope(engine) as session:
                        replica_repo.store_kip(session, {c.no_kip: c for c in page.items}, utcnow())
                    cards += len(page.items)
                if not (cursor := page.next_cursor):
                    break
    out.put((time.process_time() - t0, cards))
    engine.dispose()


def read_kip_ranges(stack: Stack, ranges: int, readers: int) -> tuple[int, float]:
    """The KIP listing read as ``ranges`` ranges of card numbers by ``readers`` processes (ranges dealt round-robin).
    Returns the cards read and the readers' CPU seconds."""
    edges = feed_ranges.kip_bounds(ranges)
    pairs = list(pairwise(edges))
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_kip_reader, args=(stack.database_url("sync_hub"), stack.url("kemensos_mock"),
                                                   stack.creds.hub_to_kemensos, pairs[r::readers], out))
             for r in range(readers)]
    for proc in procs:
        proc.start()
    got = [out.get() for _ in procs]
    for proc in procs:
        proc.join()
    return sum(n for _, n in got), sum(c for c, _ in got)


def one_round(world: Path, ranges: int = 1, readers: int = 1, kip: bool = False) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]
    dbs = {s: f"jb_bench_{s}_{tag}" for s in SERVICES}
    pg_create(list(dbs.values()))
    workdir = Path(tempfile.mkdtemp(prefix="bench-replica-"))
    stack = Stack(workdir, ports={s: free_port() for s in SERVICES}, log_level="WARNING",
                  database_urls={s: f"postgresql+psycopg://postgres@127.0.0.1:5432/{n}" for s, n in dbs.items()})
    pg = PgCpu([dbs["sync_hub"], dbs["kemensos_mock"]])
    engine = make_engine(stack.database_url("sync_hub"))
    try:
        stack.load_world(world)  # every service's part, and the hub's database migrated (empty)
        stack.start(services=["kemensos_mock"])
        kemensos = stack.procs["kemensos_mock"]
        pg.start()
        la0 = load_avg()
        with KemensosClient(stack.url("kemensos_mock"), stack.creds.hub_to_kemensos) as client:
            cpu0, kem0, pg0, t0 = time.process_time(), tree_cpu(kemensos.pid), pg.sample(), time.perf_counter()
            if ranges <= 1:
                result = follower.refresh(engine, client)  # what the hub's follower does on its first round
                hub_cpu = time.process_time() - cpu0
            else:  # the ranges recorded here, read by ``readers`` processes (as a worker's range jobs would be)
                plan = ranged.LoadPlan(ranges=ranges, min_versions=1)
                assert ranged.start(engine, client, plan) is not None
                ctx = multiprocessing.get_context("spawn")
                out = ctx.Queue()
                procs = [ctx.Process(target=_reader, args=(stack.database_url("sync_hub"), stack.url("kemensos_mock"),
                                                           stack.creds.hub_to_kemensos, plan, out))
                         for _ in range(readers)]
                for proc in procs:
                    proc.start()
                hub_cpu = sum(out.get() for _ in procs)
                for proc in procs:
                    proc.join()
                result = follower.refresh(engine, client)  # the feed after the ranges' head (nothing, here)
                hub_cpu += time.process_time() - cpu0
            wall = time.perf_counter() - t0
            cpu = {"hub (follower)": hub_cpu, "kemensos_mock": tree_cpu(kemensos.pid) - kem0,
                   "postgres": pg.sample() - pg0}
        kip_result: dict[str, Any] = {}
        if kip:
            with KemensosClient(stack.url("kemensos_mock"), stack.creds.hub_to_kemensos) as client:
                cpu0, kem0, pg0, t0 = time.process_time(), tree_cpu(kemensos.pid), pg.sample(), time.perf_counter()
                n, readers_cpu = (read_kip(engine, client), 0.0) if ranges <= 1 else read_kip_ranges(stack, ranges,
                                                                                                    readers)
                kwall = time.perf_counter() - t0
                kip_result = {"cards": n, "wall_s": kwall, "cards_per_s": n / kwall,
                              "cpu": {"hub (plan)": time.process_time() - cpu0 + readers_cpu,
                                      "kemensos_mock": tree_cpu(kemensos.pid) - kem0, "postgres": pg.sample() - pg0}}
        with engine.connect() as conn:
            families = conn.exec_driver_sql("SELECT count(*) FROM replica_keluarga").scalar_one()
            people = conn.exec_driver_sql("SELECT count(*) FROM replica_anggota").scalar_one()
        return {"families": families, "people": people, "changes": result.changes, "wall_s": wall,
                "ranges": ranges, "readers": readers if ranges > 1 else 1, "digest": digest(engine), "kip": kip_result,
                "people_per_s": people / wall, "cpu": cpu, "load_before": la0, "load_after": load_avg()}
    finally:
        pg.stop()
        engine.dispose()
        stack.stop()
        pg_drop(list(dbs.values()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--world", type=Path, required=True, help="a world written by `jembatan world generate`")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--ranges", type=int, default=1, help="a ranged first load of up to this many ranges")
    parser.add_argument("--readers", default="1", help="reader processes of a ranged load, e.g. 1,2 (one round each)")
    parser.add_argument("--kip", action="store_true", help="also read the KIP listing whole (one stream)")
    args = parser.parse_args()
    shapes = [(1, 1)] if args.ranges <= 1 else [(args.ranges, int(n)) for n in args.readers.split(",")]
    rounds = [one_round(args.world, k, n, args.kip) for _ in range(args.repeat) for k, n in shapes]
    for r in rounds:
        per_k = {n: round(1000 * v / r["people"], 3) for n, v in r["cpu"].items()}
        cpu = ", ".join(f"{n} {v:.1f}" for n, v in r["cpu"].items())
        how = "one stream" if r["ranges"] <= 1 else f"{r['ranges']} ranges, {r['readers']} reader(s)"
        print(f"{how}: {r['families']:,} families, {r['people']:,} people in {r['wall_s']:.1f} s: "
              f"{r['people_per_s']:,.0f} people/s; CPU-s {cpu} = per 1,000 people {per_k}; digest {r['digest']}; "
              f"load {r['load_before']} -> {r['load_after']}", flush=True)
        if r["kip"]:
            k = r["kip"]
            per_k = {n: round(1000 * v / max(k["cards"], 1), 3) for n, v in k["cpu"].items()}
            print(f"  KIP listing: {k['cards']:,} cards in {k['wall_s']:.1f} s: {k['cards_per_s']:,.0f} cards/s; "
                  f"CPU per 1,000 cards {per_k}", flush=True)
    for k, n in shapes:
        same = [r["people_per_s"] for r in rounds if (r["ranges"], r["readers"]) == (k, n)]
        if len(same) > 1:
            print(f"median ({k} ranges, {n} readers): {statistics.median(same):,.0f} people/s")
    print(f"({machine.describe()})")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
