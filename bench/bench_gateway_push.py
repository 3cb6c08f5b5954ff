"""Both gateways: applying the hub's result batches, and reading the student list, in process.

    .venv/bin/python bench/bench_gateway_push.py [--gateway dapodik|emis ...] [--db sqlite|postgres|URL ...]
        [--students 5000] [--batch 500] [--repeat 3] [--label after] [--save FILE.json] [--baseline FILE.json]
        [--write docs/benchmarks.md]

For each gateway and database: loads a synthetic set of schools (madrasah) and students (no worldgen: valid
NIKs from ``shared.nik.encode``) into a fresh database, then posts ``POST /api/v1/hub/results`` batches
through the app (FastAPI TestClient, so request parsing and the response are included) in four phases over
every student:

* ``pkh first``  PKH items (outcome and the PKH fields): every value new, provenance for each;
* ``pkh repeat`` the same batches again: nothing changes (UNCHANGED), nothing is written;
* ``kip`` (Dapodik: the KIP number replaces the KPS number) / ``kks`` (EMIS: only ``no_kks`` changes):
  history rows for the old values;
* ``pkh newer``  PKH items observed at a newer registry sequence flipping the value: history again;

and then pages through the student list (limit 1000, latest provenance per field). Each run is repeated
``--repeat`` times on fresh databases; a phase's figure is the median over the runs of each run's median
batch. CPU time is the process's own (client + app + SQLite), steadier than wall time on a shared machine;
the load average is taken before and after every run. ``--save`` keeps the figures as JSON, and
``--baseline`` (a file saved before a change, e.g. with ``PYTHONPATH`` pointing at the old tree) adds the
ratio after/before per phase. No test asserts any figure.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import platform
import statistics
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

from shared.db import make_engine, normalise_url
from shared.nik import Sex, encode
from shared.testing import fresh_postgres_database

TOKEN = "bench-token-0123456789abcdef"
PREFIX = "320101"
Item = dict[str, Any]


def _uid(kind: str, n: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"jembatan-bench/{kind}/{n}"))


def _person(n: int) -> dict[str, Any]:
    """The fields both gateways' student records share."""
    born = date(2012 + n % 6, 1 + n % 12, 1 + n % 28)
    sex = Sex.P if n % 2 else Sex.L
    return {"nisn": f"{n:010d}", "nik": encode(PREFIX, sex, born, 1 + n % 9999),
            "no_kk": encode(PREFIX, Sex.L, date(2010, 1, 1 + n % 28), 1 + n % 9999),
            "nama": f"Siswa Bench {n}", "jenis_kelamin": sex.value, "tempat_lahir": "Bogor",
            "tanggal_lahir": born.isoformat(), "nama_ayah": f"Ayah {n}",
            "nik_ayah": encode(PREFIX, Sex.L, date(1980, 5, 5), 1 + n % 9999), "nama_ibu_kandung": f"Ibu {n}",
            "nik_ibu": encode(PREFIX, Sex.P, date(1985, 6, 6), 1 + n % 9999)}


def _write(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w") as out:
        out.writelines(json.dumps(row) + "\n" for row in rows)


_PROVENANCE_IDS = itertools.count()  # restarted by every run: the same ids in every run, so its digests compare


def _prov(seq: int, source: str = "kemensos.dtsen") -> dict[str, Any]:
    return {"provenance_id": _uid("provenance", next(_PROVENANCE_IDS)), "sync_run_id": "bench-run",
            "source_system": source, "source_record": "keluarga/3201010101010001", "source_version": 1,
            "observed_seq": seq, "retrieved_at": datetime(2026, 1, 2, tzinfo=UTC).isoformat(), "matched_by": "nik_ibu"}


def _outcome(sid: str, recipient: bool, values: dict[str, Any], seq: int) -> Item:
    return {"student_id": sid, "outcome": "PKH_RECIPIENT" if recipient else "NOT_PKH_RECIPIENT",
            "outcome_detail": "KPM PKH aktif (nik_ibu)" if recipient else "keluarga terdaftar, bukan KPM PKH",
            "values": values, "provenance": _prov(seq)}


@dataclass(frozen=True)
class Gateway:
    """What differs between the gateways: the world files, the app, the items, the list route."""

    name: str
    title: str
    write_world: Callable[[Path, int, int], list[str]]
    prepare: Callable[[str, Path], FastAPI]  # migrate + load the world; the app
    phases: tuple[tuple[str, Callable[[str, int], Item], str], ...]  # (name, make item, expected status)
    list_path: str


# -- Dapodik ------------------------------------------------------------------------------------------------

def _dapodik_world(directory: Path, n_students: int, n_schools: int) -> list[str]:
    directory.mkdir(parents=True, exist_ok=True)
    _write(directory / "sekolah.jsonl", [
        {"sekolah_id": _uid("sekolah", s), "npsn": f"{20300000 + s:08d}", "nama": f"SD Negeri {s} Bench",
         "bentuk_pendidikan": "SD", "status_sekolah": "NEGERI", "kode_wilayah": "3201010001"}
        for s in range(n_schools)])
    ids = [_uid("pd", n) for n in range(n_students)]
    _write(directory / "peserta_didik.jsonl", [
        {"peserta_didik_id": pid, "sekolah_id": _uid("sekolah", n % n_schools), "nipd": f"{n:06d}",
         "tingkat_pendidikan_id": 1 + n % 6, **_person(n)} for n, pid in enumerate(ids)])
    return ids


def _dapodik_app(url: str, world: Path) -> FastAPI:
    from services.dapodik_gateway import db
    from services.dapodik_gateway.config import Settings
    from services.dapodik_gateway.loader.service import load_world
    from services.dapodik_gateway.main import create_app

    db.migrate(url)
    engine = db.make_engine(url)
    try:
        report = load_world(engine, world, replace=True)
        assert report.ok, report.errors[:3]
    finally:
        engine.dispose()
    return create_app(Settings(database_url=url, api_tokens={"sync_hub": TOKEN}, log_level="WARNING"))


def _dapodik_pkh(seq: int, flip: bool = False) -> Callable[[str, int], Item]:
    def make(pid: str, n: int) -> Item:
        recipient = (n % 3 == 0) != flip
        values = {"penerima_kps": recipient} if flip else {"penerima_kps": recipient,
                                                            "no_kps": f"KKS{n:09d}" if recipient else None}
        return _outcome(pid, recipient, values, seq)
    return make


def _dapodik_kip(pid: str, n: int) -> Item:
    no = f"K{n:05d}"[-6:]
    return {"student_id": pid, "values": {"penerima_kip": True, "no_kip": no, "no_kps": no,
                                          "nm_kip": f"SISWA BENCH {n}"}, "provenance": _prov(11, "kemensos.kip")}


DAPODIK = Gateway("dapodik", "Dapodik", _dapodik_world, _dapodik_app, (
    ("pkh first", _dapodik_pkh(10), "APPLIED"),
    ("pkh repeat", _dapodik_pkh(10), "UNCHANGED"),
    ("kip", _dapodik_kip, "APPLIED"),
    ("pkh newer", _dapodik_pkh(12, flip=True), "APPLIED"),
), "/api/v1/peserta-didik")


# -- EMIS ---------------------------------------------------------------------------------------------------

def _emis_world(directory: Path, n_students: int, n_madrasah: int) -> list[str]:
    directory.mkdir(parents=True, exist_ok=True)
    nsms = [f"111232{m:06d}" for m in range(n_madrasah)]
    _write(directory / "madrasah.jsonl", [
        {"nsm": nsm, "npsn": f"{60000000 + m:08d}", "nama": f"MI Bench {m}", "jenjang": "MI", "status": "SWASTA",
         "kode_wilayah": "3201010001"} for m, nsm in enumerate(nsms)])
    ids = [f"siswa-{n:07d}" for n in range(n_students)]
    _write(directory / "siswa.jsonl", [
        {"siswa_id": sid, "nsm": nsms[n % n_madrasah], "tingkat": 1 + n % 6, "rombel": "1A", **_person(n)}
        for n, sid in enumerate(ids)])
    return ids


def _emis_app(url: str, world: Path) -> FastAPI:
    from services.emis_gateway.config import Settings
    from services.emis_gateway.loader.service import load_world
    from services.emis_gateway.main import MIGRATIONS, create_app
    from shared.db import migrate

    migrate(MIGRATIONS, url)
    engine = make_engine(url)
    try:
        report = load_world(engine, world, replace=True)
        assert report.ok, report.errors[:3]
    finally:
        engine.dispose()
    return create_app(Settings(database_url=url, api_tokens={"sync_hub": TOKEN}, log_level="WARNING",
                               auto_migrate=False, pkh_worker=False))  # no idle worker in the counts


def _emis_pkh(seq: int, flip: bool = False) -> Callable[[str, int], Item]:
    def make(sid: str, n: int) -> Item:
        recipient = (n % 3 == 0) != flip
        return _outcome(sid, recipient, {"penerima_pkh": recipient, "periode_pkh": "2026 tahap I" if recipient
                                         else None, "no_kks": f"KKS{n:09d}" if recipient else None}, seq)
    return make


def _emis_kks(sid: str, n: int) -> Item:
    return {"student_id": sid, "values": {"no_kks": f"KKS-B{n:09d}"}, "provenance": _prov(11)}


EMIS = Gateway("emis", "EMIS", _emis_world, _emis_app, (
    ("pkh first", _emis_pkh(10), "APPLIED"),
    ("pkh repeat", _emis_pkh(10), "UNCHANGED"),
    ("kks", _emis_kks, "APPLIED"),
    ("pkh newer", _emis_pkh(12, flip=True), "APPLIED"),
), "/api/v1/siswa")

GATEWAYS = {g.name: g for g in (DAPODIK, EMIS)}


# -- measuring ----------------------------------------------------------------------------------------------

class DatabaseCpu:
    """PostgreSQL: CPU seconds of the backends connected to the app's database (``/proc/<pid>/schedstat``), read
    through a connection of its own, left out; elsewhere always 0 (SQLite runs in this process)."""

    def __init__(self, url: str) -> None:
        self.engine = sa.create_engine(normalise_url(url), poolclass=sa.pool.NullPool)
        self.postgres = self.engine.dialect.name == "postgresql"
        self.conn = self.engine.connect() if self.postgres else None

    def __call__(self) -> float:
        if self.conn is None:
            return 0.0
        pids = self.conn.execute(sa.text("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                         "AND pid <> pg_backend_pid()")).scalars().all()
        self.conn.rollback()
        total = 0
        for pid in pids:
            with suppress(OSError, ValueError):  # a backend gone meanwhile
                total += int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])
        return total / 1e9

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.engine.dispose()


class StatementCounter:
    def __init__(self, engine: sa.Engine) -> None:
        self.n = 0
        sa.event.listen(engine, "before_cursor_execute", self._count)

    def _count(self, *_: Any) -> None:
        self.n += 1


def digests(engine: sa.Engine) -> dict[str, str]:
    """sha256 (16 hex digits) of every table's rows, as sorted text, without what a run makes anew: integer ids
    from sequences and the timestamps of the writes (every DateTime column but the hub's ``retrieved_at``);
    a row's link to a provenance row (``field_provenance_id``) as that row's provenance id and field."""
    out = {}
    meta = sa.MetaData()
    meta.reflect(engine)
    with engine.connect() as conn:
        for table in sorted(meta.tables.values(), key=lambda t: t.name):
            if table.name == "alembic_version":
                continue
            cols = [c for c in table.c if not (c.name == "id" and isinstance(c.type, sa.Integer))
                    and not (isinstance(c.type, sa.DateTime) and c.name != "retrieved_at")
                    and c.name != "field_provenance_id"]
            stmt = sa.select(*cols)
            if "field_provenance_id" in table.c:
                prov = meta.tables["field_provenance"]
                stmt = stmt.add_columns(prov.c.provenance_id.label("fp_provenance_id"), prov.c.field.label("fp_field"))
                stmt = stmt.outerjoin(prov, prov.c.id == table.c.field_provenance_id)
            rows = sorted(repr(tuple(row)) for row in conn.execute(stmt))
            out[table.name] = f"{len(rows)}:" + hashlib.sha256("\n".join(rows).encode()).hexdigest()[:16]
    return out


def run(gateway: Gateway, url: str, n_students: int, n_schools: int, batch: int, digest: bool = False
        ) -> dict[str, dict[str, Any]]:
    """One run on a fresh database: per phase the median batch (wall and CPU) and SQL statements (with
    ``digest``: also ``digests``, of each phase's answers and, at the end, of every table)."""
    global _PROVENANCE_IDS
    _PROVENANCE_IDS = itertools.count()
    answers: dict[str, Any] = {}
    work = Path(tempfile.mkdtemp(prefix=f"bench-{gateway.name}-"))
    ids = gateway.write_world(work / "world", n_students, n_schools)
    app = gateway.prepare(url, work / "world")
    phases: dict[str, dict[str, Any]] = {}

    db_cpu = DatabaseCpu(url)
    db_times: list[float] = []

    def record(name: str, times: list[float], cpu: list[float], statements: list[int], per: int) -> None:
        phases[name] = {"batches": len(times), "wall_s": statistics.median(times), "cpu_s": statistics.median(cpu),
                        "db_cpu_s": statistics.median(db_times) if db_times else 0.0,
                        "statements": statistics.median(statements), "per": per}
        db_times.clear()

    with TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {TOKEN}"
        counter = StatementCounter(app.state.engine)
        for name, make, expect in gateway.phases:
            times, cpu, statements = [], [], []
            answers[name] = hashlib.sha256()
            # Items are made batch by batch, as the hub does: the process holds no more objects than a
            # service would (the garbage collector's full passes scan every live object).
            for start in range(0, len(ids), batch):
                part = [make(sid, n) for n, sid in enumerate(ids[start:start + batch], start)]
                before = counter.n
                d = db_cpu()
                t, c = time.perf_counter(), time.process_time()
                r = client.post("/api/v1/hub/results", json={"sync_run_id": "bench-run", "items": part})
                times.append(time.perf_counter() - t)
                cpu.append(time.process_time() - c)
                db_times.append(db_cpu() - d)
                statements.append(counter.n - before)
                assert r.status_code == 200, r.text[:300]
                answers[name].update(r.content)
                got = {x["status"] for x in r.json()["results"]}
                assert got == {expect}, (gateway.name, name, got)
            record(name, times, cpu, statements, batch)
        times, cpu, statements, seen, cursor = [], [], [], 0, None
        while True:
            before = counter.n
            d = db_cpu()
            t, c = time.perf_counter(), time.process_time()
            r = client.get(gateway.list_path, params={"limit": 1000, **({"cursor": cursor} if cursor else {})})
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
            db_times.append(db_cpu() - d)
            statements.append(counter.n - before)
            assert r.status_code == 200, r.text[:300]
            page = r.json()
            seen += len(page["items"])
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert seen == n_students
        record("list (page of 1000)", times, cpu, statements, 1000)
    db_cpu.close()
    if digest:
        phases["digests"] = {**{f"answers {k}": v.hexdigest()[:16] for k, v in answers.items()},
                             **digests(app.state.engine)}
    app.state.engine.dispose()
    return phases


def measure(gateway: Gateway, db: str, n_students: int, n_schools: int, batch: int, repeat: int,
            digest: bool = False) -> dict[str, Any]:
    """``repeat`` runs on fresh databases; per phase the median over runs of each run's median batch."""
    runs: list[dict[str, dict[str, Any]]] = []
    loads: list[float] = []
    backend = "sqlite"
    for _ in range(repeat):
        with ExitStack() as stack:
            if db == "postgres":
                url = stack.enter_context(fresh_postgres_database())
            elif db == "sqlite":
                url = f"sqlite:///{Path(tempfile.mkdtemp(prefix='bench-push-db-')) / 'gateway.db'}"
            else:
                url = db
            backend = sa.engine.make_url(normalise_url(url)).get_backend_name()
            loads.append(os.getloadavg()[0])
            runs.append(run(gateway, url, n_students, n_schools, batch, digest))
            loads.append(os.getloadavg()[0])
    phases = {}
    found = [r.pop("digests") for r in runs if "digests" in r]
    for name in runs[0]:
        per = runs[0][name]["per"]
        cpu = statistics.median(r[name]["cpu_s"] for r in runs)
        wall = statistics.median(r[name]["wall_s"] for r in runs)
        db = statistics.median(r[name].get("db_cpu_s", 0.0) for r in runs)
        phases[name] = {"batches": runs[0][name]["batches"], "per": per, "wall_s": wall, "cpu_s": cpu,
                        "items_per_s_wall": per / wall, "items_per_s_cpu": per / cpu,
                        "cpu_runs_ms": [round(r[name]["cpu_s"] * 1000, 1) for r in runs],
                        "db_cpu_s": db, "db_cpu_runs_ms": [round(r[name].get("db_cpu_s", 0.0) * 1000, 1) for r in runs],
                        "statements": statistics.median(r[name]["statements"] for r in runs)}
    return {"gateway": gateway.name, "backend": backend, "students": n_students, "batch": batch, "repeat": repeat,
            "load_min": min(loads), "load_max": max(loads), "date": time.strftime("%Y-%m-%d"), "phases": phases,
            **({"digests": found} if found else {})}


def render(result: dict[str, Any], label: str, baseline: dict[str, Any] | None) -> str:
    gateway = GATEWAYS[result["gateway"]]
    flags = (f"--gateway {gateway.name} --db {'sqlite' if result['backend'] == 'sqlite' else 'postgres'} "
             f"--students {result['students']} --batch {result['batch']} --repeat {result['repeat']}")
    lines = [f"#### {gateway.title} gateway: hub results and student list ({label}, {result['backend']})", "",
             f"`.venv/bin/python bench/bench_gateway_push.py {flags}` — in process (TestClient), "
             f"{platform.machine()}, Python {platform.python_version()}, {result['date']}; median of "
             f"{result['repeat']} runs on fresh databases. Load average during the runs: "
             f"{result['load_min']:.1f}-{result['load_max']:.1f} on {os.cpu_count()} CPUs.", ""]
    head = ("| phase | batches | median batch (wall) | items/s (wall) | median CPU per batch (runs) | items/s (CPU) "
            "| SQL statements per batch | database CPU per batch (runs) |")
    rule = "|---|---|---|---|---|---|---|---|"
    if baseline:
        head += " items/s (CPU) before | after/before |"
        rule += "---|---|"
    lines += [head, rule]
    for name, p in result["phases"].items():
        runs = ", ".join(f"{x:.0f}" for x in p["cpu_runs_ms"])
        line = (f"| {name} | {p['batches']} | {p['wall_s'] * 1000:.0f} ms | {p['items_per_s_wall']:,.0f} | "
                f"{p['cpu_s'] * 1000:.0f} ms ({runs}) | {p['items_per_s_cpu']:,.0f} | {p['statements']:.0f} | "
                f"{p.get('db_cpu_s', 0.0) * 1000:.0f} ms "
                f"({', '.join(f'{x:.0f}' for x in p.get('db_cpu_runs_ms', []))}) |")
        if baseline:
            old = baseline["phases"].get(name)
            line += (f" {old['items_per_s_cpu']:,.0f} | {p['items_per_s_cpu'] / old['items_per_s_cpu']:.2f}x |"
                     if old else " - | - |")
        lines.append(line)
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gateway", choices=list(GATEWAYS), action="append", help="Repeatable; default: both")
    ap.add_argument("--db", action="append", help="'sqlite' (a fresh file, the default), 'postgres' (a fresh "
                    "database on the test server, JEMBATAN_TEST_PG_URL) or a database URL; repeatable")
    ap.add_argument("--students", type=int, default=5000)
    ap.add_argument("--schools", type=int, default=20, help="Schools (Dapodik) or madrasah (EMIS)")
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=3, help="Runs per gateway and database (medians over them)")
    ap.add_argument("--label", default="current")
    ap.add_argument("--save", type=Path, help="Write the figures as JSON (a list, one entry per gateway and db)")
    ap.add_argument("--baseline", type=Path, help="JSON saved by --save before a change: adds after/before")
    ap.add_argument("--write", type=Path, help="Append the results sections to this markdown file")
    ap.add_argument("--digest", action="store_true", help="Print digests of every run's answers and tables "
                    "(the same in every run of the same code: compare two trees)")
    args = ap.parse_args()
    before = json.loads(args.baseline.read_text()) if args.baseline else []
    results, texts = [], []
    for name in args.gateway or list(GATEWAYS):
        for db in args.db or ["sqlite"]:
            result = measure(GATEWAYS[name], db, args.students, args.schools, args.batch, args.repeat, args.digest)
            results.append(result)
            base = next((b for b in before if (b["gateway"], b["backend"]) == (name, result["backend"])), None)
            texts.append(render(result, args.label, base))
            print(texts[-1], flush=True)
            for i, found in enumerate(result.get("digests", [])):
                print(f"digests, {name} {result['backend']} run {i + 1}: " + json.dumps(found, sort_keys=True),
                      flush=True)
    if args.save:
        args.save.write_text(json.dumps(results, indent=1))
    if args.write:
        with args.write.open("a", encoding="utf-8") as out:
            out.write("".join("\n" + text for text in texts))


if __name__ == "__main__":
    main()
