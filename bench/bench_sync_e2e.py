"""End-to-end sync throughput: the main job on a larger world, measured.

    .venv/bin/python bench/bench_sync_e2e.py --families 60000 [--repeat 3] [--write docs/benchmarks.md]

Starts the four services as processes on SQLite (as the demo does), loads a generated world, runs a
full sync through the hub's API and reports students synced per second (end to end, from the API call
to the run's end), the run's phase timings, and the peak resident memory of each process. With
``--repeat`` the sync is repeated on fresh databases and the median is reported; the second run on the
same data (nothing to write) is also timed. No figure here is asserted by any test.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from jembatan.stack import SERVICES, Stack, free_port
from shared.clients import HubClient
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
        peak = stack.peak_rss_mib()
    finally:
        stack.stop()
    return {"students": run.students_read, "load_s": load_s, "first_s": first_s, "second_s": second_s,
            "timings": run.timings, "peak": peak, "status": run.status.value, "second_written": again.values_written}


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
        f"| second sync, nothing to write | {second:.1f} s — {students / second:,.0f} students/s "
        f"(values written: {runs[0]['second_written']}) |",
        f"| first sync phases (s) | {', '.join(f'{k} {v:.1f}' for k, v in runs[0]['timings'].items())} |",  # type: ignore[union-attr]
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
