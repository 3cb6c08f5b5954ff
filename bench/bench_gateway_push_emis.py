"""EMIS gateway: applying the hub's result batches, and reading the student list, in process.

    .venv/bin/python bench/bench_gateway_push_emis.py [--students 5000] [--batch 500] [--db URL|postgres]
                                                      [--label after] [--write docs/benchmarks.md]

Loads a synthetic set of madrasah and students (no worldgen: valid NIKs from ``shared.nik.encode``),
then posts ``POST /api/v1/hub/results`` batches through the app (FastAPI TestClient, so request parsing
and the response are included) in four phases over every student:

* ``pkh first``  PKH items (outcome, penerima_pkh, periode_pkh, no_kks): every value new, provenance each;
* ``pkh repeat`` the same batches again: nothing changes (UNCHANGED), nothing is written;
* ``kks``        items without an outcome changing only no_kks: one history row per student;
* ``pkh newer``  PKH items observed at a newer registry sequence flipping the value: history again.

and then pages through ``GET /api/v1/siswa`` (limit 1000, latest provenance per field).
Reports the median batch time, items/s and SQL statements per batch/page. No test asserts any figure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
import uuid
import warnings
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from services.emis_gateway.config import Settings
from services.emis_gateway.loader.service import load_world
from services.emis_gateway.main import MIGRATIONS, create_app
from shared.db import make_engine, migrate, normalise_url
from shared.nik import Sex, encode
from shared.testing import fresh_postgres_database

TOKEN = "bench-token-0123456789abcdef"
PREFIX = "320101"


def write_world(directory: Path, n_students: int, n_madrasah: int) -> list[str]:
    directory.mkdir(parents=True, exist_ok=True)
    nsms = [f"111232{m:06d}" for m in range(n_madrasah)]
    with (directory / "madrasah.jsonl").open("w") as out:
        for m, nsm in enumerate(nsms):
            out.write(json.dumps({"nsm": nsm, "npsn": f"{60000000 + m:08d}", "nama": f"MI Bench {m}",
                                  "jenjang": "MI", "status": "SWASTA", "kode_wilayah": "3201010001"}) + "\n")
    ids = []
    with (directory / "siswa.jsonl").open("w") as out:
        for n in range(n_students):
            born = date(2012 + n % 6, 1 + n % 12, 1 + n % 28)
            sex = Sex.P if n % 2 else Sex.L
            sid = f"siswa-{n:07d}"
            ids.append(sid)
            out.write(json.dumps({
                "siswa_id": sid, "nsm": nsms[n % n_madrasah], "nisn": f"{n:010d}",
                "nik": encode(PREFIX, sex, born, 1 + n % 9999),
                "no_kk": encode(PREFIX, Sex.L, date(2010, 1, 1 + n % 28), 1 + n % 9999),
                "nama": f"Siswa Bench {n}", "jenis_kelamin": sex.value, "tempat_lahir": "Bogor",
                "tanggal_lahir": born.isoformat(), "tingkat": 1 + n % 6, "rombel": "1A",
                "nama_ayah": f"Ayah {n}", "nik_ayah": encode(PREFIX, Sex.L, date(1980, 5, 5), 1 + n % 9999),
                "nama_ibu_kandung": f"Ibu {n}", "nik_ibu": encode(PREFIX, Sex.P, date(1985, 6, 6), 1 + n % 9999),
            }) + "\n")
    return ids


def _prov(seq: int) -> dict[str, Any]:
    return {"provenance_id": str(uuid.uuid4()), "sync_run_id": "bench-run", "source_system": "kemensos.dtsen",
            "source_record": "keluarga/3201010101010001", "source_version": 1, "observed_seq": seq,
            "retrieved_at": datetime(2026, 1, 2, tzinfo=UTC).isoformat(), "matched_by": "nik_ibu"}


def pkh_item(sid: str, n: int, seq: int, recipient: bool) -> dict[str, Any]:
    return {"student_id": sid, "outcome": "PKH_RECIPIENT" if recipient else "NOT_PKH_RECIPIENT",
            "outcome_detail": "KPM PKH aktif (nik_ibu)" if recipient else "keluarga terdaftar, bukan KPM PKH",
            "values": {"penerima_pkh": recipient, "periode_pkh": "2026 tahap I" if recipient else None,
                       "no_kks": f"KKS{n:09d}" if recipient else None},
            "provenance": _prov(seq)}


def kks_item(sid: str, n: int, seq: int) -> dict[str, Any]:
    return {"student_id": sid, "values": {"no_kks": f"KKS-B{n:09d}"}, "provenance": _prov(seq)}


def chunks(items: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


class StatementCounter:
    def __init__(self, engine: sa.Engine) -> None:
        self.n = 0
        sa.event.listen(engine, "before_cursor_execute", self._count)

    def _count(self, *_: Any) -> None:
        self.n += 1


def run(url: str, n_students: int, n_madrasah: int, batch: int) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="bench-emis-"))
    ids = write_world(work / "world", n_students, n_madrasah)
    migrate(MIGRATIONS, url)
    engine = make_engine(url)
    try:
        report = load_world(engine, work / "world", replace=True)
        assert report.ok, report.errors[:3]
    finally:
        engine.dispose()
    app = create_app(Settings(database_url=url, api_tokens={"sync_hub": TOKEN}, log_level="WARNING",
                              auto_migrate=False, pkh_worker=False))  # no idle worker in the counts
    phases: dict[str, dict[str, Any]] = {}
    with TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {TOKEN}"
        counter = StatementCounter(app.state.engine)

        def phase(name: str, items: list[dict[str, Any]], expect: str) -> None:
            times, cpu, statements = [], [], []
            for part in chunks(items, batch):
                before = counter.n
                t, c = time.perf_counter(), time.process_time()
                r = client.post("/api/v1/hub/results", json={"sync_run_id": "bench-run", "items": part})
                times.append(time.perf_counter() - t)
                cpu.append(time.process_time() - c)
                statements.append(counter.n - before)
                assert r.status_code == 200, r.text[:300]
                got = {x["status"] for x in r.json()["results"]}
                assert got == {expect}, (name, got)
            med = statistics.median(times)
            phases[name] = {"batches": len(times), "median_s": med, "items_per_s": batch / med,
                            "cpu_s": statistics.median(cpu), "per": batch, "statements": statistics.median(statements),
                            "total_s": sum(times)}

        phase("pkh first", [pkh_item(s, n, 10, n % 3 == 0) for n, s in enumerate(ids)], "APPLIED")
        phase("pkh repeat", [pkh_item(s, n, 10, n % 3 == 0) for n, s in enumerate(ids)], "UNCHANGED")
        phase("kks", [kks_item(s, n, 11) for n, s in enumerate(ids)], "APPLIED")
        phase("pkh newer", [pkh_item(s, n, 12, n % 3 != 0) for n, s in enumerate(ids)], "APPLIED")
        times, cpu, statements, seen, cursor = [], [], [], 0, None
        while True:
            before = counter.n
            t, c = time.perf_counter(), time.process_time()
            r = client.get("/api/v1/siswa", params={"limit": 1000, **({"cursor": cursor} if cursor else {})})
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
            statements.append(counter.n - before)
            assert r.status_code == 200, r.text[:300]
            page = r.json()
            seen += len(page["items"])
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert seen == n_students
        phases["list (page of 1000)"] = {"batches": len(times), "median_s": statistics.median(times),
                                         "items_per_s": 1000 / statistics.median(times),
                                         "cpu_s": statistics.median(cpu), "per": 1000,
                                         "statements": statistics.median(statements), "total_s": sum(times)}
    return phases


def render(label: str, url: str, n_students: int, batch: int, phases: dict[str, dict[str, Any]],
           load: float) -> str:
    backend = sa.engine.make_url(normalise_url(url)).get_backend_name()
    lines = [f"#### EMIS gateway: hub results and student list ({label}, {backend})", "",
             f"`.venv/bin/python bench/bench_gateway_push_emis.py --students {n_students} --batch {batch}"
             f"{'' if backend == 'sqlite' else ' --db postgres'}` — in process (TestClient), "
             f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, "
             f"{time.strftime('%Y-%m-%d')}.", "",
             f"Load average at the start: {load:.1f} on {os.cpu_count()} CPUs (CPU time is the "
             "process's own, so it is less sensitive to other load than the wall time).", "",
             "| phase | batches | median batch | items/s | median CPU per batch | items/s of CPU | "
             "SQL statements per batch |", "|---|---|---|---|---|---|---|"]
    for name, p in phases.items():
        lines.append(f"| {name} | {p['batches']} | {p['median_s'] * 1000:.0f} ms | {p['items_per_s']:,.0f} | "
                     f"{p['cpu_s'] * 1000:.0f} ms | {p['per'] / p['cpu_s']:,.0f} | {p['statements']:.0f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--students", type=int, default=5000)
    ap.add_argument("--madrasah", type=int, default=20)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--db", help="Database URL, or 'postgres' for a fresh database on the test server "
                    "(JEMBATAN_TEST_PG_URL); default: a fresh SQLite file")
    ap.add_argument("--label", default="current")
    ap.add_argument("--write", type=Path, help="Append the results section to this markdown file")
    args = ap.parse_args()
    load = os.getloadavg()[0]
    with ExitStack() as stack:
        if args.db == "postgres":
            url = stack.enter_context(fresh_postgres_database())
        else:
            url = args.db or f"sqlite:///{Path(tempfile.mkdtemp(prefix='bench-emis-db-')) / 'emis.db'}"
        phases = run(url, args.students, args.madrasah, args.batch)
    text = render(args.label, url, args.students, args.batch, phases, load)
    print(text)
    if args.write:
        with args.write.open("a", encoding="utf-8") as out:
            out.write("\n" + text)


if __name__ == "__main__":
    main()
