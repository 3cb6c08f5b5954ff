"""The operator's common tasks at a running hub (``jembatan runs | outcomes | review``), through the SDK, and the
one-line error messages every ``jembatan`` command ends with instead of a traceback (``--debug`` shows it)."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import httpx
import jembatan_client as sdk
import typer
from rich.console import Console
from rich.table import Column, Table

from shared import http as shared_http

HUB_URL = typer.Option("http://127.0.0.1:8100", "--hub", envvar="JEMBATAN_HUB_URL", help="The hub's base URL")
HUB_TOKEN = typer.Option(..., "--token", envvar="JEMBATAN_HUB_TOKEN",
                         help="Bearer token for the hub (a person's: `jembatan token --user NAME --role ROLE`)")

console = Console()
err = Console(stderr=True)

START_HUB = ("start it (`python3 run.py demo --keep-running`, or `python -m services.sync_hub serve`), or point "
             "--hub / JEMBATAN_HUB_URL at the running one")
GET_TOKEN = "get one with `jembatan token --user NAME --role ROLE` and set JEMBATAN_HUB_TOKEN"


def explain(exc: BaseException) -> str:
    """One line: what went wrong, and the fix."""
    if isinstance(exc, httpx.TransportError | sdk.Unavailable) and getattr(exc, "problem", None) is None:
        return f"cannot reach the service ({exc}); {START_HUB}"
    if isinstance(exc, shared_http.Unavailable):
        if exc.status is None:
            return f"cannot reach the service ({exc}); {START_HUB}"
        return f"the service answered {exc.status} ({exc}); retry later, and see the service's log"
    if isinstance(exc, sdk.Unauthorized) or (isinstance(exc, shared_http.Rejected) and exc.status == 401):
        return f"the hub refused the token (401: expired, or not one of its tokens); {GET_TOKEN}"
    if isinstance(exc, sdk.Forbidden) or (isinstance(exc, shared_http.Rejected) and exc.status == 403):
        detail = exc.problem.detail if isinstance(exc, sdk.ApiError) and exc.problem else str(exc)
        return f"not allowed for this token ({detail}); ask for a token with the role the task needs"
    if isinstance(exc, sdk.ApiError) and exc.problem is not None:
        fields = "; ".join(f"{e.field}: {e.rule}" for e in exc.problem.errors[:3])
        return f"{exc.status} {exc.problem.error}: {exc.problem.detail}" + (f" [{fields}]" if fields else "")
    if isinstance(exc, shared_http.ClientError):
        return str(exc)
    if isinstance(exc, FileNotFoundError | PermissionError | IsADirectoryError):
        return f"{exc.strerror}: {exc.filename}"
    return f"{type(exc).__name__}: {exc}"


def run_cli(app: typer.Typer, argv: list[str] | None = None) -> None:
    """Run ``app``; an error ends with one line naming the fix (exit 1), a traceback only with ``--debug``."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    if debug:
        args.remove("--debug")
    try:
        app(args, standalone_mode=True)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        err.print("interrupted")
        raise SystemExit(130) from None
    except Exception as exc:
        if debug:
            raise
        err.print(f"[red]error:[/red] {explain(exc)}", highlight=False, soft_wrap=True)
        err.print("(run again with --debug for the traceback)", style="dim")
        raise SystemExit(1) from None


def _hub(url: str, token: str) -> sdk.HubClient:
    return sdk.HubClient(url, token)


def runs(limit: int = typer.Option(20, min=1, max=200, help="How many runs, newest first"),
         hub: str = HUB_URL, token: str = HUB_TOKEN) -> None:
    """The latest sync runs: status, units done / failed / waiting, students, outcomes."""
    table = Table("run", "status", "created", "units", "students", "values written", "outcomes")
    with _hub(hub, token) as client:
        for n, run in enumerate(client.iter_runs(limit=limit)):
            if n >= limit:
                break
            p = run.progress
            units = f"{p.units_done}/{p.units_total} ({p.units_failed} failed, {p.units_waiting} waiting)" if p else "-"
            outcomes = ", ".join(f"{k} {v:,}" for k, v in sorted(run.outcomes.items(), key=lambda kv: -kv[1])[:3])
            table.add_row(run.id[:8], run.status, run.created_at.strftime("%Y-%m-%d %H:%M"), units,
                          f"{run.students_read:,}", f"{run.values_written:,}", outcomes)
    console.print(table)


def outcomes(run_id: str = typer.Argument(..., help="The run (its id; `jembatan runs` lists them)"),
             export: Path | None = typer.Option(None, "--export", help="Write every outcome to this file (.csv or "
                                                ".jsonl) instead of a summary"),
             hub: str = HUB_URL, token: str = HUB_TOKEN) -> None:
    """Every student's outcome in a run: a count per outcome, or all rows with --export (KK numbers masked)."""
    counts: dict[str, int] = {}
    with _hub(hub, token) as client:
        run = client.get_run(run_id)
        rows = client.iter_outcomes(run.id)
        if export is None:
            for o in rows:
                counts[o.outcome] = counts.get(o.outcome, 0) + 1
            table = Table("outcome", "students")
            for name, n in sorted(counts.items(), key=lambda kv: -kv[1]):
                table.add_row(name, f"{n:,}")
            console.print(f"sync run {run.id} {run.status}")
            console.print(table)
            return
        fields = ["sync_run_id", "system", "student_id", "outcome", "matched_by", "detail", "no_kk"]
        written = 0
        with export.open("w", newline="", encoding="utf-8") as out:
            writer = csv.DictWriter(out, fields) if export.suffix != ".jsonl" else None
            if writer:
                writer.writeheader()
            for o in rows:
                row = {f: getattr(o, f) for f in fields}
                if writer:
                    writer.writerow(row)
                else:
                    out.write(json.dumps(row, ensure_ascii=False) + "\n")
                written += 1
    console.print(f"wrote {written:,} outcomes of run {run_id} to {export}")


review = typer.Typer(help="Clerical review: open cases, one case side by side, decisions", no_args_is_help=True)


@review.command("list")
def review_list(status: str = typer.Option("OPEN", help="OPEN or DECIDED"), hub: str = HUB_URL,
                token: str = HUB_TOKEN) -> None:
    """Review cases (no personal data in the list)."""
    table = Table("system", "student", "reason", "candidates", "since")
    table.columns.insert(0, Column("case", no_wrap=True))  # ids are copied by operators: never wrapped
    with _hub(hub, token) as client:
        for case in client.iter_cases(status):
            table.add_row(case.id, case.system, case.student_id, case.reason, str(case.candidates),
                          case.created_at.strftime("%Y-%m-%d"))
    console.print(table)


@review.command("show")
def review_show(case_id: str, hub: str = HUB_URL, token: str = HUB_TOKEN) -> None:
    """One case: the student and each candidate family side by side (reviewer role; the read is logged)."""
    with _hub(hub, token) as client:
        case = client.get_case(case_id)
    console.print(f"case {case.id} ({case.system} {case.student_id}): {case.reason} {case.detail or ''}")
    console.print_json(json.dumps({"student": case.student, "candidate_families": case.candidate_families},
                                  default=str, ensure_ascii=False))


@review.command("decide")
def review_decide(case_id: str,
                  verdict: str = typer.Option(..., help="link or no_link"),
                  reason: str = typer.Option(..., help="Why (kept with the decision)"),
                  no_kk: str | None = typer.Option(None, help="The candidate family's KK number (verdict link)"),
                  hub: str = HUB_URL, token: str = HUB_TOKEN) -> None:
    """Decide a case (reviewer role); safe to retry (an Idempotency-Key is sent)."""
    with _hub(hub, token) as client:
        decision = client.decide(case_id, verdict, reason, no_kk)
    console.print(f"decision {decision.id}: {decision.verdict} by {decision.reviewer}")
