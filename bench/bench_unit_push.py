"""A unit's push and record alone, CPU per process: the hub's side in this process, the gateways as processes.

    .venv/bin/python bench/bench_unit_push.py [--db postgres|sqlite] [--students 10000] [--batch 1000] [--repeat 3]
        [--system emis --system dapodik] [--json OUT]

For each round, on fresh databases (PostgreSQL: one per service on 127.0.0.1:5432, dropped afterwards; SQLite:
files in a temporary directory): writes a synthetic set of schools and students for each gateway (the same
generator as ``bench_gateway_push.py``), loads them with the gateways' CLIs, starts both gateways as processes
(``serve``), migrates the hub's database and puts in it one RUNNING run, one unit per system and the hub's copy
of every student (``student_mirror``, as a plan leaves it). Then, for each system, this process plays the hub's
worker on that unit: ``Pusher.push`` of one item per student (PKH outcome and values as ``sync/plan.py`` makes
them on a first sync: a third recipients, half known non-recipients, the rest unregistered; on Dapodik a tenth of
the students also get a KIP item), then the record step (``lifecycle.record``: outcomes and ``student_status``)
and the unit's closing checkpoint, each timed. CPU seconds of each process over each phase: this process
(``time.process_time``: the hub's worker), each gateway (``/proc/<pid>/stat``), PostgreSQL (the backends connected
to the bench's databases). Reports medians over rounds, and CPU microseconds per student over all processes.
No test asserts any figure.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_gateway_push import _dapodik_world, _emis_world  # noqa: E402
from bench.bench_sync_e2e import proc_cpu  # noqa: E402
from jembatan.stack import Stack, free_port  # noqa: E402
from services.sync_hub.domain.students import StudentView  # noqa: E402
from services.sync_hub.ledger import keys as ledger_keys  # noqa: E402
from services.sync_hub.ledger import service as ledger  # noqa: E402
from services.sync_hub.main import MIGRATIONS  # noqa: E402
from services.sync_hub.matching.kip import LinkedKip  # noqa: E402
from services.sync_hub.matching.service import FamilyRef, MatchDecision  # noqa: E402
from services.sync_hub.mirror.models import StudentMirrorRow  # noqa: E402
from services.sync_hub.runs.models import SyncRunRow, SyncUnitRow  # noqa: E402
from services.sync_hub.sync import lifecycle  # noqa: E402
from services.sync_hub.sync.push import Pusher  # noqa: E402
from services.sync_hub.sync.unit import _plan  # noqa: E402
from services.sync_hub.upstreams import Upstreams  # noqa: E402
from shared.clients import DapodikClient, EmisClient, KemensosClient  # noqa: E402
from shared.contracts.common import MatchKey, Outcome  # noqa: E402
from shared.contracts.hub import SourceSystem  # noqa: E402
from shared.contracts.kemensos import Jenjang  # noqa: E402
from shared.db import make_engine, migrate, session_scope  # noqa: E402

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
GATEWAYS = {"emis": "emis_gateway", "dapodik": "dapodik_gateway"}




def pg_backends(dbs: list[str]) -> dict[int, tuple[str, float]]:
    """The backends connected to ``dbs``: pid -> (the service whose database it is, CPU seconds)."""
    if not dbs:
        return {}
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        rows = conn.execute("SELECT pid, datname FROM pg_stat_activity WHERE datname = ANY(%s)", (dbs,)).fetchall()
    service = {"sync_hub": "hub", "emis_gateway": "emis", "dapodik_gateway": "dapodik"}
    return {int(r[0]): (next(v for k, v in service.items() if k in r[1]), proc_cpu(int(r[0]))) for r in rows}


@dataclass
class Snapshot:
    hub: float
    gateways: dict[str, float]
    pg: dict[int, tuple[str, float]]
    wall: float


def snapshot(stack: Stack, dbs: list[str]) -> Snapshot:
    return Snapshot(time.process_time(), {n: proc_cpu(p.pid) for n, p in stack.procs.items()}, pg_backends(dbs),
                    time.perf_counter())


def delta(a: Snapshot, b: Snapshot) -> dict[str, float]:
    out = {"hub worker": b.hub - a.hub}
    out.update({n: b.gateways[n] - a.gateways.get(n, 0.0) for n in b.gateways})
    for pid, (db, v) in b.pg.items():  # backends alive at the end: their CPU since the start
        out[f"postgres {db}"] = out.get(f"postgres {db}", 0.0) + v - a.pg.get(pid, (db, 0.0))[1]
    out["postgres"] = sum(v for k, v in out.items() if k.startswith("postgres "))
    out["wall"] = b.wall - a.wall
    return out


def _mirror_rows(system: SourceSystem, ids: list[str], region: str) -> list[dict[str, Any]]:
    return [{"system": system.value, "student_id": sid, "school": "s", "region": region, "nama": f"Siswa Bench {n}",
             "jenis_kelamin": "L", "tanggal_lahir": date(2012, 1, 1), "current_json": "{}", "attested_json": "[]",
             "source_version": 0, "aktif": True, "held_back": False, "nama_ibu_kandung": "", "nama_ayah": "",
             "nama_wali": ""} for n, sid in enumerate(ids)]


def _decision(n: int) -> MatchDecision:
    """A third PKH recipients, half known non-recipients, the rest not registered."""
    no_kk = f"3201{n:012d}"
    if n % 6 in (0, 1):
        return MatchDecision(Outcome.PKH_RECIPIENT, "KPM PKH aktif (nik_ibu)", MatchKey.NIK_IBU,
                             FamilyRef(no_kk, 1, "AKTIF", "2026-T1", f"KKS{n:09d}"), person_nik=f"3201{n:012d}")
    if n % 6 in (2, 3, 4):
        return MatchDecision(Outcome.NOT_PKH_RECIPIENT, "keluarga terdaftar, bukan KPM PKH", MatchKey.NIK,
                             FamilyRef(no_kk, 1, None, None, None), person_nik=f"3201{n:012d}")
    return MatchDecision(Outcome.NOT_REGISTERED, "NIK tidak ditemukan di DTSEN", MatchKey.NONE)


def _view(system: SourceSystem, sid: str, n: int) -> StudentView:
    return StudentView(system, sid, f"Siswa Bench {n}", "L", date(2012, 1, 1), None, None, "", None, "", None, "",
                       None, {}, {})


def _card(n: int) -> LinkedKip:
    return LinkedKip(no_kip=f"K{n:05d}"[-6:], nama=f"SISWA BENCH {n}", tanggal_lahir=date(2012, 1, 1),
                     nama_ibu_kandung=f"Ibu {n}", kode_wilayah="3201010001", jenjang=Jenjang.SD, nik=None, tahun=2026,
                     version=1, updated_at=datetime(2026, 1, 1, tzinfo=UTC))


DIGEST_TIME = datetime(2026, 12, 4, 21, 0, 0, 123456, tzinfo=UTC)
# what ``--digest`` compares, per table: every column but the times the hub takes from its clock (and the
# checkpoints, signed with a key made per run over their creation time)
DIGEST = {"provenance": "written_at", "outbox_item": "created_at sent_at", "ledger_entry": "appended_at",
          "ledger_head": "checkpoint_seq checkpoint_hash", "student_mirror": "read_at", "student_outcome": "decided_at",
          "student_status": "decided_at updated_at"}


def _deterministic_ids() -> None:
    """``--digest``: the hub's random ids (provenance ids, provenance rows) drawn from a counter, so that two runs
    of the same input write the same rows and the same ledger (ids and times are part of the records hashed)."""
    from services.sync_hub.sync import push

    count = iter(range(1, 1 << 62))

    def ids(n: int) -> list[str]:
        return [str(uuid.UUID(int=(next(count) << 64) | 0x4000_0000_8000)) for _ in range(n)]

    push.uuid7_texts = ids  # type: ignore[attr-defined]


def digest(engine: sa.Engine) -> dict[str, str]:
    """sha256 (first 16 hex digits) of each table's rows sorted, less the columns in ``DIGEST``."""
    import hashlib

    out = {}
    meta = sa.MetaData()
    with engine.connect() as conn:
        for table, skip in DIGEST.items():
            t = sa.Table(table, meta, autoload_with=conn)
            cols = [c for c in t.c if c.name not in skip.split()]
            rows = sorted(repr(tuple(r)) for r in conn.execute(sa.select(*cols)))
            out[table] = f"{len(rows)} rows {hashlib.sha256(chr(10).join(rows).encode()).hexdigest()[:16]}"
    return out


def _spy(directory: Path | None, system: str, pids: dict[str, int]) -> list[subprocess.Popen[bytes]]:
    """py-spy on ``pids`` (raw collapsed stacks in ``directory``) until sent SIGINT."""
    if directory is None:
        return []
    directory.mkdir(parents=True, exist_ok=True)
    exe = Path(sys.executable).parent / "py-spy"
    spies = [subprocess.Popen([str(exe), "record", "--pid", str(pid), "--format", "raw", "--rate", "100",
                               "--nonblocking", "-o", str(directory / f"{system}_{name}.txt")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for name, pid in pids.items()]
    time.sleep(1.0)  # attached before the phase starts
    return spies


def one_round(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    dbs: list[str] = []
    urls: dict[str, str] = {}
    if args.db == "postgres":
        import psycopg

        tag = uuid.uuid4().hex[:8]
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            for s in ("emis_gateway", "dapodik_gateway", "sync_hub"):
                name = f"jb_benchpush_{s}_{tag}"
                conn.execute(f'CREATE DATABASE "{name}"')
                dbs.append(name)
                urls[s] = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    stack = Stack(work, ports={s: free_port() for s in ("kemensos_mock", "emis_gateway", "dapodik_gateway",
                                                          "sync_hub")},
                  database_urls=urls, log_level="WARNING")
    (work / "db").mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {"load": os.getloadavg()[0]}
    engine = None
    try:
        ids = {"emis": _emis_world(work / "emis", args.students, max(1, args.students // 200)),
               "dapodik": _dapodik_world(work / "dapodik", args.students, max(1, args.students // 200))}
        for system in args.system:
            stack._cli(GATEWAYS[system], "load", str(work / system), "--replace")
        (work / "logs").mkdir(exist_ok=True)
        for system in args.system:
            service = GATEWAYS[system]
            log = (work / "logs" / f"{service}.log").open("ab")
            stack.procs[service] = subprocess.Popen([sys.executable, "-m", f"services.{service}", "serve"],
                                                    env=stack.env(service), stdout=log, stderr=subprocess.STDOUT,
                                                    start_new_session=True)
        deadline = time.monotonic() + 120
        for system in args.system:
            stack._wait_healthy(GATEWAYS[system], deadline)
        hub_url = stack.database_url("sync_hub")
        migrate(MIGRATIONS, hub_url)
        engine = make_engine(hub_url)
        run_id = str(uuid.UUID(int=1)) if args.digest else str(uuid.uuid4())
        now = datetime.now(UTC)
        units: dict[str, str] = {}
        with session_scope(engine) as session:
            session.add(SyncRunRow(id=run_id, status="RUNNING", trigger="bench", systems=list(args.system),
                                   created_at=now, started_at=now, full=True, registry_seq=10))
            for system in args.system:
                units[system] = str(uuid.UUID(int=2 + len(units))) if args.digest else str(uuid.uuid4())
                session.add(SyncUnitRow(id=units[system], sync_run_id=run_id, system=system, region="32",
                                        status="RUNNING", created_at=now, started_at=now, attempts=1))
            session.flush()
            for system in args.system:
                rows = _mirror_rows(SourceSystem(system), ids[system], "3201010001")
                for start in range(0, len(rows), 5000):
                    session.execute(sa.insert(StudentMirrorRow), rows[start:start + 5000])
        c = stack.creds
        ups = Upstreams(KemensosClient("http://127.0.0.1:9", c.hub_to_kemensos),
                        EmisClient(stack.url("emis_gateway"), c.hub_to_emis),
                        DapodikClient(stack.url("dapodik_gateway"), c.hub_to_dapodik))
        ledger_keys.generate(work / "ledger.pem")
        signer = ledger_keys.signer(work / "ledger.pem", hub_url)
        for system_name in args.system:
            system = SourceSystem(system_name)
            students = [_view(system, sid, n) for n, sid in enumerate(ids[system_name])]
            decisions = [_decision(n) for n in range(len(students))]
            cards = [(_card(n) if system is SourceSystem.DAPODIK and n % 10 == 0 else None)
                     for n in range(len(students))]
            retrieved = DIGEST_TIME if args.digest else datetime.now(UTC)
            planned = [item for s, d, k in zip(students, decisions, cards, strict=True)
                       for item in _plan(s, d, k, retrieved)[0]]
            regions = {s.student_id: "3201010001" for s in students}
            pusher = Pusher(engine, ups, system, units[system_name], signer=signer, checkpoint_every=10_000)
            spies = _spy(args.py_spy, system_name,
                         {"hub": os.getpid(), "gateway": stack.procs[GATEWAYS[system_name]].pid})
            s0 = snapshot(stack, dbs)
            assert pusher.push(run_id, planned, 10, args.batch)
            s1 = snapshot(stack, dbs)
            with session_scope(engine) as session:
                lifecycle.record(session, run_id, system, students, decisions, regions, datetime.now(UTC))
            ledger.checkpoint(engine, signer)
            s2 = snapshot(stack, dbs)
            for spy in spies:
                spy.send_signal(signal.SIGINT)
                spy.wait()
            assert not pusher.tally.rejected, pusher.tally.rejected[:3]
            out[system_name] = {"students": len(students), "items": len(planned),
                                "values": pusher.tally.values_written,
                                "push": delta(s0, s1), "record": delta(s1, s2)}
        ups.close()
        if args.digest:
            out["digest"] = digest(engine)
    finally:
        if engine is not None:
            engine.dispose()
        stack.stop()
        if dbs:
            import psycopg

            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                for n in dbs:
                    conn.execute(f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)')
    out["load_after"] = os.getloadavg()[0]
    return out


def report(args: argparse.Namespace, rounds: list[dict[str, Any]]) -> str:
    med = statistics.median
    loads = ", ".join(f"{r['load']:.1f}-{r['load_after']:.1f}" for r in rounds)
    lines = [f"bench_unit_push: --db {args.db} --students {args.students} --batch {args.batch}, "
             f"{len(rounds)} round(s), load {loads}",
             "", "| system | phase | " + " | ".join(("hub worker", "gateway", "postgres", "all", "wall")) +
             " | CPU µs / student (all) |", "|---|---|---|---|---|---|---|---|"]
    for system in args.system:
        n = rounds[0][system]["students"]
        for phase in ("push", "record"):
            def m(key: str, system: str = system, phase: str = phase) -> float:
                return med(r[system][phase].get(key, 0.0) for r in rounds)

            gw = med(r[system][phase].get(GATEWAYS[system], 0.0) for r in rounds)
            total = med(r[system][phase]["hub worker"] + r[system][phase].get(GATEWAYS[system], 0.0)
                        + r[system][phase]["postgres"] for r in rounds)
            pg = f"{m('postgres'):.2f} (hub {m('postgres hub'):.2f}, {system} {m(f'postgres {system}'):.2f})"
            lines.append(f"| {system} | {phase} | {m('hub worker'):.2f} | {gw:.2f} | {pg} | "
                         f"{total:.2f} | {m('wall'):.2f} | {1e6 * total / n:,.0f} |")
        lines.append(f"| {system} | items / values | {rounds[0][system]['items']:,} items, "
                     f"{rounds[0][system]['values']:,} values for {n:,} students | | | | | |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", choices=("sqlite", "postgres"), default="postgres")
    ap.add_argument("--students", type=int, default=10_000)
    ap.add_argument("--batch", type=int, default=1000, help="items per result batch (the hub's default)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--system", action="append", choices=("emis", "dapodik"))
    ap.add_argument("--json", type=Path)
    ap.add_argument("--py-spy", type=Path, help="record the hub side and the gateway with py-spy here (raw stacks)")
    ap.add_argument("--digest", action="store_true",
                    help="ids and retrieval time from a counter, and print a digest of the hub's tables after each "
                         "round (provenance, outbox, ledger entries and head, the copy, outcomes): equal between two "
                         "builds when they write the same rows")
    args = ap.parse_args()
    if args.digest:
        _deterministic_ids()
    args.system = args.system or ["emis", "dapodik"]
    rounds = []
    for _ in range(args.repeat):
        work = Path(tempfile.mkdtemp(prefix="jembatan-pushbench-"))
        try:
            rounds.append(one_round(args, work))
        finally:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(rounds, indent=1))
    print(report(args, rounds))
    for n, r in enumerate(rounds):
        if "digest" in r:
            print(f"digest, round {n + 1}: " + json.dumps(r["digest"], indent=1))


if __name__ == "__main__":
    main()
