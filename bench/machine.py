"""How fast this machine runs Python today: one line for every benchmark's report.

    .venv/bin/python bench/machine.py

The sessions that measure Jembatan do not all get the same machine: the same code and the same command have taken
~40 % and up to 2x longer from one session to the next (docs/benchmarks.md, "Re-measure after session 10's merges"
and "Session 15"). Absolute figures (ms per press, students/s) only compare within one session; this module gives
each report a reference to read them against: the median time of a fixed piece of work made of what the services
spend their CPU on (Python bytecode over dicts and strings, JSON in and out, a hash), over several repeats, with the
load average at that moment. Lower is faster. Ratios between two reports' references say how much of a difference
the machine alone accounts for.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import statistics
import time

ROWS = [{"id": f"{i:08d}", "name": f"SISWA {i % 97} {i % 89}", "score": i * 0.5, "ok": i % 3 == 0,
         "tags": ["a", "b", str(i % 7)]} for i in range(400)]


def _work() -> int:
    """A fixed mix: a loop of arithmetic, dict and string work per row, JSON round trips, a sha256 of the text."""
    total = 0
    for _ in range(5):
        index: dict[str, dict[str, object]] = {}
        for row in ROWS:
            key = row["id"] + ":" + str(row["name"]).lower()
            index[key] = {**row, "len": len(key)}
            total += len(key) * 3 % 11
        text = json.dumps(list(index.values()))
        total += len(json.loads(text))
        total += hashlib.sha256(text.encode()).digest()[0]
    return total


def reference_ms(repeats: int = 9) -> float:
    """The median wall time of ``_work`` over ``repeats`` runs, in milliseconds (one warm-up run first)."""
    _work()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        _work()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def describe() -> str:
    """``x86_64, AMD EPYC, 2 cores, Python 3.11.7, reference 10.2 ms (load 0.4)``: the machine a report ran on."""
    load = os.getloadavg()[0]
    return (f"{platform.machine()}, {cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"reference {reference_ms():.1f} ms at load {load:.1f} (bench/machine.py; lower is faster)")


if __name__ == "__main__":
    print(describe())
