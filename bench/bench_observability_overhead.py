"""What metrics + traces + JSON logs cost: the same work with observability on and off, alternated in one run.

    .venv/bin/python bench/bench_observability_overhead.py [--families 20000] [--rounds 2] [--operators 10]
        [--seconds 20] [--workers 2] [--write docs/benchmarks.md]

One generated world (seed 7), loaded once into SQLite files that every round copies. Each round starts the four
services as processes (``jembatan.stack``) in one mode, then

1. runs a full sync through the hub's API (the end-to-end sync of ``bench_sync_e2e.py``), timed from the
   run's creation to its end as the hub recorded them;
2. runs the "Request Data PKH" closed loop of ``bench_checks_load.py`` at ``--operators`` threads for
   ``--seconds`` through each gateway (random students; EMIS and Dapodik), after the sync;

and stops them. Modes alternate on, off, on, off... so that the machine's other load (it is shared) falls on
both alike. **on**: the default (``<PREFIX>TELEMETRY=true``: RED metrics, hub gauges, OpenTelemetry spans on
every request and outbound call, no exporter; ``<PREFIX>LOG_FORMAT=json``), **off**: ``TELEMETRY=false`` and
``LOG_FORMAT=text``. Both at ``LOG_LEVEL=INFO`` (an access line per request), ``--workers`` uvicorn processes
per service (metrics in multiprocess mode), the hub's SQLite jobs on its own threads. Reported: medians over
the rounds of each mode, and the load average at each round's start. No test asserts any figure.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_checks_load import closed_loop

from jembatan.stack import PREFIX, SERVICES, Stack, free_port
from shared.clients import DapodikClient, EmisClient, HubClient
from worldgen.config import WorldConfig
from worldgen.generate import generate_world


@dataclass
class Round:
    mode: str
    load: float
    sync_s: float = 0.0
    students: int = 0
    checks: dict[str, tuple[float, float, float, int]] = field(default_factory=dict)  # gw -> req/s, p50, p95, errs


def env_for(mode: str, workers: int) -> dict[str, dict[str, str]]:
    on = mode == "on"
    out: dict[str, dict[str, str]] = {}
    for service in SERVICES:
        p = PREFIX[service]
        out[service] = {f"{p}TELEMETRY": "true" if on else "false", f"{p}LOG_FORMAT": "json" if on else "text",
                        f"{p}WORKERS": str(workers if service != "kemensos_mock" else 1)}
    return out


def one_round(mode: str, template: Path, workdir: Path, args: argparse.Namespace) -> Round:
    shutil.copytree(template / "db", workdir / "db")
    stack = Stack(workdir, ports={s: free_port() for s in SERVICES}, log_level="INFO",
                  extra_env=env_for(mode, args.workers))
    out = Round(mode, os.getloadavg()[0])
    try:
        stack.start(timeout=600)  # a shared machine under load starts 2 x 3 uvicorn workers slowly
        with HubClient(stack.url("sync_hub"), stack.hub_operator) as hub:
            run = hub.wait(hub.start_run().id, timeout=7200, poll=0.5)
            assert run.status.value == "SUCCEEDED", run.errors
            assert run.finished_at is not None
            out.sync_s = (run.finished_at - run.created_at).total_seconds()
            out.students = run.students_read
        with EmisClient(stack.url("emis_gateway"), stack.creds.operator) as emis:
            siswa = [s.siswa_id for s in emis.iter_students()]
        with DapodikClient(stack.url("dapodik_gateway"), stack.creds.operator) as dapodik:
            pd = [p.peserta_didik_id for p in dapodik.iter_students()]
        targets = {"emis": (stack.url("emis_gateway"), [f"/api/v1/siswa/{i}/pkh-request" for i in siswa], True),
                   "dapodik": (stack.url("dapodik_gateway"),
                               [f"/api/v1/peserta-didik/{i}/pkh-request" for i in pd], False)}
        for gateway, (url, paths, is_emis) in targets.items():
            lv = closed_loop(url, stack.creds.operator, paths, args.operators, args.seconds, is_emis)
            out.checks[gateway] = (lv.requests / lv.seconds, lv.pct(0.5), lv.pct(0.95), lv.errors)
    finally:
        stack.stop()
    print(f"[{mode}] load {out.load:.1f}: sync {out.sync_s:.1f} s ({out.students} students); " + ", ".join(
        f"{g} {r:.1f} req/s p50 {p50:.0f} ms p95 {p95:.0f} ms errors {e}"
        for g, (r, p50, p95, e) in out.checks.items()), flush=True)
    return out


def report(rounds: list[Round], args: argparse.Namespace) -> str:
    def med(mode: str, f) -> float:  # type: ignore[no-untyped-def]
        return statistics.median(f(r) for r in rounds if r.mode == mode)

    rows = [("full sync, s (lower is better)", lambda r: r.sync_s, False)]
    for g in ("emis", "dapodik"):
        rows += [(f"{g} checks, req/s (higher is better)", lambda r, g=g: r.checks[g][0], True),
                 (f"{g} checks, p50 ms", lambda r, g=g: r.checks[g][1], False),
                 (f"{g} checks, p95 ms", lambda r, g=g: r.checks[g][2], False)]
    lines = ["| measure | off (median) | on (median) | overhead |", "|---|---|---|---|"]
    for name, f, higher_better in rows:
        off, on = med("off", f), med("on", f)
        cost = (off / on - 1) if higher_better else (on / off - 1)
        lines.append(f"| {name} | {off:.1f} | {on:.1f} | {cost * 100:+.1f} % |")
    lines.append("")
    lines.append("Rounds in order (mode, load average at its start, sync s, EMIS req/s, Dapodik req/s, errors): " +
                 "; ".join(f"{r.mode} {r.load:.1f} {r.sync_s:.1f} {r.checks['emis'][0]:.1f} "
                           f"{r.checks['dapodik'][0]:.1f} {r.checks['emis'][3] + r.checks['dapodik'][3]}"
                           for r in rounds))
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--families", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=2, help="rounds of each mode")
    ap.add_argument("--operators", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--write", type=Path)
    ap.add_argument("--keep", type=Path, help="keep the loaded world's databases here and reuse them next time")
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="bench-obs-"))
    template = args.keep or base / "template"
    try:
        if not (template / "db").exists():
            generate_world(WorldConfig(seed=7, n_families=args.families), base / "world")
            t = time.perf_counter()
            Stack(template).load_world(base / "world")
            print(f"world of {args.families} families loaded in {time.perf_counter() - t:.0f} s", flush=True)
        rounds = [one_round(mode, template, base / f"round{i}", args)
                  for i, mode in enumerate(["on", "off"] * args.rounds)]
    finally:
        shutil.rmtree(base, ignore_errors=True)
    text = report(rounds, args)
    print(text)
    if args.write:
        with args.write.open("a") as fh:
            fh.write(f"\n## Observability overhead: metrics + traces + JSON logs (issue 13)\n\n"
                     f"`.venv/bin/python bench/bench_observability_overhead.py --families {args.families} --rounds "
                     f"{args.rounds} --operators {args.operators} --seconds {args.seconds:g} --workers {args.workers} "
                     f"--write docs/benchmarks.md` — {platform.node()}, {os.cpu_count()} cores, Python "
                     f"{platform.python_version()}; SQLite; modes alternated on/off in one run; the machine was "
                     f"shared with other work (load averages below).\n\n{text}\n")


if __name__ == "__main__":
    main()
