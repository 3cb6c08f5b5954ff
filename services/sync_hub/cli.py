"""sync_hub command line: serve, migrate, and start a sync through the hub's API."""

from __future__ import annotations

import os

import typer
from rich.console import Console
from rich.table import Table

from services.sync_hub.config import get_settings
from shared.clients import HubClient
from shared.contracts.hub import SourceSystem, SyncRun, SyncRunCreate
from shared.contracts.ledger import LedgerReport

app = typer.Typer(help="Jembatan sync hub", no_args_is_help=True, add_completion=False)
console = Console()


@app.command()
def serve() -> None:
    """Run the hub's HTTP API (HUB_HOST / HUB_PORT)."""
    from shared.settings import serve_app

    serve_app("services.sync_hub.main", get_settings())


@app.command()
def migrate(revision: str = typer.Argument("head", help="Alembic revision")) -> None:
    """Bring the hub's database (HUB_DATABASE_URL) to REVISION (default: the newest; an older one downgrades)."""
    from services.sync_hub.main import MIGRATIONS
    from shared.db import migrate_command

    migrate_command(MIGRATIONS, get_settings().database_url, revision)


@app.command()
def worker(concurrency: int = typer.Option(1, min=1, help="Jobs this process runs at once (CPU-bound: keep 1 "
                                           "and start one process per core)")) -> None:
    """Run a worker: take the hub's jobs (plans, work units) from the queue in HUB_DATABASE_URL (PostgreSQL)."""
    from services.sync_hub.jobs import worker as jobs_worker
    from shared import logging as jlog

    settings = get_settings()
    jlog.configure("sync_hub.worker", settings.log_level, settings.log_format)
    if settings.telemetry:  # its calls to the gateways and the registry carry the job's trace (docs/operations.md)
        from shared.observability import tracing

        tracing.instrument_process("sync_hub.worker")
    jobs_worker.main(settings, concurrency)


def render_run(run: SyncRun) -> Table:
    table = Table(title=f"sync run {run.id} — {run.status.value}", show_header=True)
    table.add_column("outcome")
    table.add_column("students", justify="right")
    for outcome, count in sorted(run.outcomes.items(), key=lambda kv: -kv[1]):
        table.add_row(outcome, f"{count:,}")
    table.add_section()
    table.add_row("students decided", f"{run.students_read:,}")
    table.add_row("records read from the gateways", f"{run.students_from_feed:,}")
    if run.progress is not None:
        table.add_row("work units (done / failed / total)",
                      f"{run.progress.units_done} / {run.progress.units_failed} / {run.progress.units_total}")
    if run.stale:
        table.add_row("stale (read again next run)", f"{run.stale:,}")
    table.add_row("values written", f"{run.values_written:,}")
    table.add_row("values already correct", f"{run.values_unchanged:,}")
    table.add_row("provenance records", f"{run.provenance_records:,}")
    table.add_row("KIP cards linked", f"{run.kip_linked:,}")
    if run.periode:
        sent = {k: v for k, v in run.verifications.items() if k != "not_sent_unchanged"}
        table.add_row(f"education verifications {run.periode}",
                      ", ".join(f"{k} {v:,}" for k, v in sorted(sent.items())) or "none sent")
        if run.verifications.get("not_sent_unchanged"):
            table.add_row("  already sent, unchanged", f"{run.verifications['not_sent_unchanged']:,}")
    if run.started_at and run.finished_at:
        table.add_row("time taken", f"{(run.finished_at - run.started_at).total_seconds():.1f} s")
    if run.timings:
        table.add_row("  phases (s)", ", ".join(f"{k} {v:.1f}" for k, v in run.timings.items()))
    return table


def follow(hub: HubClient, run_id: str, poll: float = 1.0) -> SyncRun:
    """Wait for the run to end, with a progress bar over its work units (``GET /api/v1/sync-runs/{id}``: units
    done, failed, running and waiting; students decided; verification units once planned)."""
    import time

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("[bold]sync run[/bold] {task.fields[run]}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("units"), TimeElapsedColumn(), TextColumn("{task.description}"))
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("queued", total=None, run=run_id[:8])
        while True:
            run = hub.get_run(run_id)
            p = run.progress
            if p is None:
                bar.update(task, description="queued" if run.status.value == "QUEUED"
                           else "planning (reading what changed)")
            else:
                ended = p.units_done + p.units_failed + p.units_cancelled
                text = (f"{p.units_running} running, {p.units_waiting} waiting, {p.units_failed} failed; "
                        f"{p.students_done:,} students decided")
                if p.verification_units_total:
                    text += (f"; verification {p.verification_units_done}/{p.verification_units_total}, "
                             f"{p.children_verified:,} children")
                bar.update(task, total=p.units_total or None, completed=ended, description=text)
            if run.status.value not in ("QUEUED", "RUNNING"):
                bar.update(task, description=f"{run.status.value.lower()}; " + bar.tasks[0].description)
                return run
            time.sleep(poll)


@app.command()
def sync(
    url: str = typer.Option("http://127.0.0.1:8100", envvar="JEMBATAN_HUB_URL", help="The hub's base URL"),
    token: str = typer.Option(..., envvar="JEMBATAN_HUB_TOKEN", help="Bearer credential for the hub"),
    system: list[SourceSystem] = typer.Option(None, help="Limit to emis or dapodik (default both)"),
    wait: bool = typer.Option(True, help="Wait for the run to finish and print its summary"),
) -> None:
    """Start a sync run through the hub's API (so it is persisted like any other run)."""
    with HubClient(url, token) as hub:
        body = SyncRunCreate(systems=system) if system else SyncRunCreate()
        run = hub.start_run(body)
        console.print(f"sync run {run.id} {run.status.value}")
        if not wait:
            return
        run = follow(hub, run.id)
        console.print(render_run(run))
        for error in run.errors:
            console.print(f"[red]error:[/red] {error}")
        if run.status.value != "SUCCEEDED":
            raise typer.Exit(1)


@app.command("verify-ledger")
def verify_ledger(checkpoint: bool = typer.Option(False, help="Sign a checkpoint over the tail first")) -> None:
    """Verify the provenance ledger offline, against the database (HUB_DATABASE_URL) and the signing key
    (HUB_LEDGER_KEY_FILE): the chain, every record, every signed checkpoint; the first problem is named."""
    from services.sync_hub.ledger import keys
    from services.sync_hub.ledger import service as ledger
    from services.sync_hub.ledger.verify import verify
    from shared.db import make_engine, session_scope

    settings = get_settings()
    signer = keys.signer(settings.ledger_key_file, settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        if checkpoint:
            ledger.checkpoint(engine, signer)
        with session_scope(engine) as session:
            report = verify(session, {signer.key_id: keys.public_key(signer.public.public_key)})
    finally:
        engine.dispose()
    print_ledger_report(report)
    if not report.ok:
        raise typer.Exit(1)


def print_ledger_report(report: LedgerReport) -> None:
    state = "[green]ok[/green]" if report.ok else "[red]BROKEN[/red]"
    console.print(f"ledger {state}: {report.entries} entries, {report.checkpoints} checkpoints covering "
                  f"1..{report.checkpointed_seq}, {report.unchecked_tail} not signed yet, {report.unledgered} "
                  f"provenance rows unledgered ({report.seconds:.2f} s)")
    for p in report.problems[:20]:
        console.print(f"[red]{p.what} {p.rule}[/red] seq {p.seq}: {p.message}")


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    app()
