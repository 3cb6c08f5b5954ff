"""World generation at national shape: wall time and peak memory of generating N students.

    .venv/bin/python bench/bench_worldgen.py --students 1000000 [--repeat 3] [--keep DIR] [--write docs/benchmarks.md]

Each run generates the world in a fresh child process (``python -m worldgen generate --students N``
in-process through ``generate_world``), which reports its own wall time, CPU time and peak resident
set size (``resource.getrusage(RUSAGE_SELF).ru_maxrss``: everything numpy, polars and Python held at the
high-water mark). The median wall time over the runs is reported with the slowest run and the
largest peak. The load average before each run is printed too: this is a 2-core machine that other
jobs share, and the wall time grows with them. No test asserts any figure here.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
t0 = time.perf_counter()
from worldgen.config import WorldConfig
from worldgen.generate import generate_world
students, seed, out = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
t1 = time.perf_counter()
summary = generate_world(WorldConfig(seed=seed, n_students=students), out)
t2 = time.perf_counter()
usage = resource.getrusage(resource.RUSAGE_SELF)
size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
print(json.dumps({"wall_s": t2 - t1, "import_s": t1 - t0, "cpu_s": usage.ru_utime + usage.ru_stime,
                  "peak_mib": usage.ru_maxrss / 1024, "bytes": size, "summary": summary.model_dump()}))
"""


def one_run(students: int, seed: int, out: Path) -> dict[str, object]:
    shutil.rmtree(out, ignore_errors=True)
    load = os.getloadavg()[0]
    result = subprocess.run([sys.executable, "-c", CHILD, str(students), str(seed), str(out)],
                            capture_output=True, text=True, check=True)
    run: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    run["load_before"] = load
    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--students", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep", type=Path, help="Keep the last world here (for bench_load.py)")
    ap.add_argument("--write", type=Path, help="Append a results section to this markdown file")
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="jembatan-worldgen-"))
    runs = []
    try:
        for i in range(args.repeat):
            run = one_run(args.students, args.seed, base / "world")
            runs.append(run)
            print(f"run {i + 1}: {run['wall_s']:.1f} s wall, {run['cpu_s']:.1f} s CPU, "
                  f"peak {run['peak_mib']:,.0f} MiB (load average before: {run['load_before']:.1f})", flush=True)
        if args.keep:
            shutil.rmtree(args.keep, ignore_errors=True)
            shutil.move(str(base / "world"), args.keep)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    walls = [float(r["wall_s"]) for r in runs]  # type: ignore[arg-type]
    cpus = [float(r["cpu_s"]) for r in runs]  # type: ignore[arg-type]
    peak = max(float(r["peak_mib"]) for r in runs)  # type: ignore[arg-type]
    s = runs[-1]["summary"]
    assert isinstance(s, dict)
    counts = s["counts"]
    registry_persons = counts["kemensos/anggota_keluarga.jsonl"]
    size_gib = float(runs[-1]["bytes"]) / 2**30  # type: ignore[arg-type]
    loads = ", ".join(f"{float(r['load_before']):.1f}" for r in runs)  # type: ignore[arg-type]
    lines = [
        f"### World generation — {args.students:,} students ({platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {datetime.now(UTC):%Y-%m-%d})",
        "",
        f"Command: `.venv/bin/python bench/bench_worldgen.py --students {args.students} --repeat {args.repeat}`",
        "",
        "| measure | value |",
        "|---|---|",
        f"| wall time, median of {len(runs)} (min / max) | **{statistics.median(walls):.1f} s** "
        f"({min(walls):.1f} / {max(walls):.1f} s) |",
        f"| CPU time (user + system), median | {statistics.median(cpus):.1f} s |",
        f"| peak resident memory (largest run) | **{peak:,.0f} MiB** |",
        f"| load average of the machine before each run | {loads} |",
        f"| student records (EMIS + Dapodik) | {s['n_students']:,} ({counts['emis/siswa.jsonl']:,} siswa, "
        f"{counts['dapodik/peserta_didik.jsonl']:,} peserta_didik) |",
        f"| families (in the registry) | {s['n_families']:,} ({s['n_registry_families']:,}) |",
        f"| persons (in the registry) | {s['n_persons']:,} ({registry_persons:,}) |",
        f"| institutions | {counts['emis/madrasah.jsonl']:,} madrasah, {counts['dapodik/sekolah.jsonl']:,} schools |",
        f"| rows written / bytes | {sum(counts.values()):,} rows in {len(counts)} files, {size_gib:.2f} GiB |",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        args.write.parent.mkdir(parents=True, exist_ok=True)
        with args.write.open("a", encoding="utf-8") as fh:
            fh.write("\n" + text)


if __name__ == "__main__":
    main()
