"""End-to-end sync throughput: the main job on a larger world, measured.

    .venv/bin/python bench/bench_sync_e2e.py --families 60000 [--repeat 3] [--write docs/benchmarks.md]

Starts the four services as processes on SQLite (as the demo does), loads a generated world, runs a
full sync through the hub's API and reports students synced per second (end to end, from the API call
to the run's end), the run's phase timings, and the peak resident memory of each process. With
``--repeat`` the sync is repeated on fresh databases and the median is reported. Then, on the same data: a
second run with nothing changed (incremental: reads ~0 students from the gateways, rematches the hub's copy),
and a third after a small change — one student edited at Dapodik, one registry family leaving PKH — and a
forced full re-read (``full``) for comparison. No figure here is asserted by any test.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from jembatan.changes import edit_peserta_didik, graduate_family, pkh_family_of_an_emis_recipient
from jembatan.stack import SERVICES, Stack, free_port
from shared.clients import DapodikClient, EmisClient, HubClient
from shared.contracts.hub import SyncRunCreate
from worldgen.config import WorldConfig
from worldgen.generate import generate_world


def one_run(world: Path, workdir: Path) -> dict[str, object]:
    stack = Stack(workdir, ports={s: free_port() for s in SERVICES}, log_level="WARNING")
    t0 = time.perf_counter()
    stack.load_world(world)
    load_s = time.perf_counter() - t0
    stack.start()
    try:
        with HubClient(stack.url("sync_hub"), stack.creds.operator) as hub:
            t1 = time.perf_counter()
            run = hub.wait(hub.start_run().id, timeout=7200, poll=0.2)
            first_s = time.perf_counter() - t1
            t2 = time.perf_counter()
            again = hub.wait(hub.start_run().id, timeout=7200, poll=0.2)
            second_s = time.perf_counter() - t2
            with EmisClient(stack.url("emis_gateway"), stack.creds.hub_to_emis) as emis, \
                    DapodikClient(stack.url("dapodik_gateway"), stack.creds.hub_to_dapodik) as dapodik:
                _, no_kk = pkh_family_of_an_emis_recipient(emis)
                student = dapodik.changes(limit=1).items[0]
            graduate_family(stack, no_kk)
            edit_peserta_didik(stack, student.peserta_didik_id, {"tempat_lahir": "Bogor Barat"})
            t3 = time.perf_counter()
            third = hub.wait(hub.start_run().id, timeout=7200, poll=0.2)
            third_s = time.perf_counter() - t3
            t4 = time.perf_counter()
            full = hub.wait(hub.start_run(SyncRunCreate(full=True)).id, timeout=7200, poll=0.2)
            full_s = time.perf_counter() - t4
        peak = stack.peak_rss_mib()
    finally:
        stack.stop()
    return {"students": run.students_read, "load_s": load_s, "first_s": first_s, "second_s": second_s,
            "timings": run.timings, "peak": peak, "status": run.status.value, "second_written": again.values_written,
            "second_read": again.students_from_feed, "second_timings": again.timings,
            "third_s": third_s, "third_read": third.students_from_feed, "third_written": third.values_written,
            "third_timings": third.timings, "full_s": full_s, "full_written": full.values_written,
            "full_timings": full.timings, "statuses": [r.status.value for r in (run, again, third, full)]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--families", type=int, default=60000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--write", type=Path, help="Append a results section to this markdown file")
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="jembatan-bench-"))
    try:
        world = base / "world"
        t = time.perf_counter()
        summary = generate_world(WorldConfig(seed=args.seed, n_families=args.families), world)
        gen_s = time.perf_counter() - t
        runs = [one_run(world, base / f"run{i}") for i in range(args.repeat)]
    finally:
        shutil.rmtree(base, ignore_errors=True)
    students = int(runs[0]["students"])  # type: ignore[call-overload]
    first = statistics.median(float(r["first_s"]) for r in runs)  # type: ignore[arg-type]
    second = statistics.median(float(r["second_s"]) for r in runs)  # type: ignore[arg-type]
    third = statistics.median(float(r["third_s"]) for r in runs)  # type: ignore[arg-type]
    full = statistics.median(float(r["full_s"]) for r in runs)  # type: ignore[arg-type]
    r0 = runs[0]
    load_avg = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    load = statistics.median(float(r["load_s"]) for r in runs)  # type: ignore[arg-type]
    peaks = {s: max(float(r["peak"].get(s, 0)) for r in runs) for s in SERVICES}  # type: ignore[union-attr]
    lines = [
        f"### Sync end to end — {args.families:,} families, {students:,} students "
        f"({platform.machine()}, {platform.python_version()}, median of {len(runs)})",
        "",
        f"Command: `.venv/bin/python bench/bench_sync_e2e.py --families {args.families} --repeat {args.repeat}`",
        "",
        "| measure | value |",
        "|---|---|",
        f"| world generation | {gen_s:.1f} s ({summary}) |",
        f"| load into the three upstream databases (SQLite) | {load:.1f} s |",
        f"| first sync (API call to run end) | {first:.1f} s — **{students / first:,.0f} students/s** |",
        f"| second sync, nothing changed (incremental) | {second:.1f} s (students read from the gateways: "
        f"{r0['second_read']}, values written: {r0['second_written']}) |",
        f"| third sync after 1 student edit + 1 family leaving PKH | {third:.1f} s (students read: "
        f"{r0['third_read']}, values written: {r0['third_written']}) |",
        f"| forced full re-read (`full`), nothing to write | {full:.1f} s (values written: {r0['full_written']}) |",
        f"| first sync phases (s) | {', '.join(f'{k} {v:.1f}' for k, v in r0['timings'].items())} |",  # type: ignore[union-attr]
        f"| second sync phases (s) | {', '.join(f'{k} {v:.1f}' for k, v in r0['second_timings'].items())} |",  # type: ignore[union-attr]
        f"| third sync phases (s) | {', '.join(f'{k} {v:.1f}' for k, v in r0['third_timings'].items())} |",  # type: ignore[union-attr]
        f"| full re-read phases (s) | {', '.join(f'{k} {v:.1f}' for k, v in r0['full_timings'].items())} |",  # type: ignore[union-attr]
        f"| run statuses | {', '.join(r0['statuses'])} |",  # type: ignore[arg-type]
        f"| load average at the end (1, 5, 15 min) | {load_avg} |",
        "| peak RSS per process (MiB) | " + ", ".join(f"{s} {peaks[s]:.0f}" for s in SERVICES) + " |",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        with args.write.open("a") as fh:
            fh.write(text + "\n")


if __name__ == "__main__":
    main()
