"""``jembatan``: the operator's command line.

* ``jembatan demo`` — the README's main job: a synthetic world, the four services as local processes
  on SQLite, a full sync through the hub's API, a summary checked against ground truth.
* ``jembatan world generate`` — write a synthetic world (JSON Lines with the real systems' field names).
* ``jembatan sync`` — start a sync run on a running hub (the same as ``python -m services.sync_hub sync``).
* ``jembatan token`` — a short-lived token for a person at the hub, from the local issuer (embedded default).
* ``jembatan runs | outcomes RUN [--export FILE] | review list|show|decide`` — the operator's common tasks.
* Any error ends with one line naming the fix (exit 1); ``--debug`` shows the traceback.
* ``jembatan openapi`` — write the four services' OpenAPI specs to ``docs/openapi/`` (``--check``: fail on drift).
"""

from __future__ import annotations

import shutil
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from jembatan import operator
from jembatan.evaluate import Evaluation, evaluate_world
from jembatan.ledger_audit import check_gateways
from jembatan.risk_truth import RiskEvaluation, evaluate_report
from jembatan.stack import DEFAULT_PORTS, SERVICES, Stack, free_port
from jembatan.verifications import VerificationCheck, check_world
from services.sync_hub.cli import follow, render_run
from services.sync_hub.cli import sync as hub_sync
from services.sync_hub.config import Settings as HubSettings
from shared.clients import DapodikClient, EmisClient, HubClient, KemensosClient
from shared.contracts.hub import SyncRun
from shared.oidc import LocalIssuer
from worldgen.cli import app as world_app
from worldgen.config import WorldConfig
from worldgen.generate import generate_world

app = typer.Typer(help="Jembatan: education data x Kemensos registry integration hub (--debug: tracebacks)",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
app.add_typer(world_app, name="world", help="Synthetic worlds")
app.command("sync", help="Start a sync run on a running hub and follow it with a progress bar")(hub_sync)
app.command("runs")(operator.runs)
app.command("outcomes")(operator.outcomes)
app.add_typer(operator.review, name="review")


def main() -> None:
    """The ``jembatan`` console script: errors end with one line and the fix; ``--debug`` for the traceback."""
    operator.run_cli(app)


@app.command()
def verify(
    hub: str = typer.Option("http://127.0.0.1:8100", "--hub", envvar="JEMBATAN_HUB_URL", help="The hub's base URL"),
    token: str = typer.Option(..., envvar="JEMBATAN_HUB_TOKEN", help="Bearer credential for the hub"),
    emis: str | None = typer.Option(None, envvar="JEMBATAN_EMIS_URL", help="Also check the values EMIS holds"),
    emis_token: str | None = typer.Option(None, envvar="JEMBATAN_EMIS_TOKEN"),
    dapodik: str | None = typer.Option(None, envvar="JEMBATAN_DAPODIK_URL", help="Also check Dapodik's values"),
    dapodik_token: str | None = typer.Option(None, envvar="JEMBATAN_DAPODIK_TOKEN"),
    public_key: str | None = typer.Option(None, help="The hub's Ed25519 public key (hex) as you know it; "
                                          "default: the one the hub shows"),
) -> None:
    """Verify the hub's provenance ledger (chain, records, signed checkpoints: the first problem is named) and,
    with gateway URLs, that every value a gateway holds is the value the hub ledgered."""
    from services.sync_hub.cli import print_ledger_report

    with HubClient(hub, token) as client:
        key = client.ledger_public_key()
        if public_key and public_key.lower() != key.public_key:
            console.print(f"[red]the hub signs with key {key.key_id}, not the key given[/red]")
            raise typer.Exit(1)
        report = client.ledger_verify()
        print_ledger_report(report)
        ok = report.ok
        gateways = [(EmisClient(emis, emis_token or token) if emis else None),
                    (DapodikClient(dapodik, dapodik_token or token) if dapodik else None)]
        if any(gateways):
            audit = check_gateways(client, gateways[0], gateways[1])  # type: ignore[arg-type]
            console.print(f"gateway values: {audit.values} checked, {len(audit.changed)} changed behind the hub's "
                          f"back, {len(audit.not_in_ledger)} not in the ledger, {audit.without_hash} without a "
                          "record hash")
            for line in (audit.changed + audit.not_in_ledger)[:20]:
                console.print(f"[red]{line}[/red]")
            ok = ok and audit.ok
            for g in gateways:
                if g is not None:
                    g.close()
    if not ok:
        raise typer.Exit(1)
console = Console()


def _counts(counts: Counter[str]) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in counts.most_common())


def render_evaluation(ev: Evaluation) -> Table:
    table = Table(title="checked against the world's ground truth", show_header=False)
    table.add_row("students checked (every record of both gateways)", f"{ev.students:,}")
    table.add_row("students without an outcome", f"{ev.without_outcome:,}"
                  + (f" (+ {ev.not_listed:,} not listed by their gateway)" if ev.not_listed else ""))
    for system, counts in sorted(ev.outcomes_by_system.items()):
        table.add_row(f"  outcomes, {system}", _counts(counts))
    if ev.held_back:
        table.add_row("Dapodik records held back by validation",
                      f"{sum(ev.held_back.values()):,}: {_counts(ev.held_back)}")
        table.add_row("  of which with their true KK number: given the true PKH status",
                      f"{ev.held_back_linked_right:,} of {ev.held_back_linkable:,}")
    table.add_row("PKH values written", f"{ev.pkh_written:,}")
    table.add_row("PKH values contradicting the truth", f"{ev.pkh_wrong:,}")
    table.add_row("students with a correct NIK in the registry", f"{ev.with_correct_key:,}")
    table.add_row("  of which given the true PKH status", f"{ev.correct_key_right:,} ({ev.coverage:.2%})")
    table.add_row("  of which given a wrong status", f"{ev.correct_key_wrong:,}")
    table.add_row("KIP numbers written (right / wrong)",
                  f"{ev.kip_right:,} / {ev.kip_wrong:,} of {ev.kip_truth:,} issued")
    return table


def render_verifications(vc: VerificationCheck) -> Table:
    table = Table(title=f"education verifications {vc.periode} at Kemensos, checked against the ground truth",
                  show_header=False)
    table.add_row("PKH children the world enrolled", f"{vc.children:,}")
    table.add_row("  verified by the hub", f"{vc.verified:,}")
    table.add_row("    agreeing with the truth", f"{vc.agreeing:,}")
    table.add_row("    disagreeing", f"{vc.disagreeing:,}" + (f" ({dict(vc.disagreements)})" if vc.disagreeing else ""))
    table.add_row("  dropped out mid-quarter (reported enrolled, not active)",
                  f"{vc.dropped_out:,} ({vc.dropped_out_reported:,})")
    table.add_row("  not verified (records not linked: see families at risk)", f"{vc.not_verified:,}")
    return table


def render_at_risk(run: SyncRun) -> Table:
    """The run's families-at-risk counts (its last stage): by reason, by province."""
    risk = run.at_risk
    table = Table(title=f"families at risk {run.periode or ''} (GET /api/v1/families-at-risk)", show_header=False)
    if risk is None:
        table.add_row("not built", "the run did not succeed or has no PKH period")
        return table
    table.add_row("PKH families at risk", f"{risk.families:,}")
    table.add_row("families whose education component ends (not an error)", f"{risk.families_component_ends:,}")
    for reason, n in risk.by_reason.items():
        table.add_row(f"  {reason}", f"{n:,}")
    table.add_row("by province (families at risk)",
                  ", ".join(f"{p}: {c.families:,}" for p, c in risk.by_province.items() if c.families))
    return table


def render_risk_evaluation(ev: RiskEvaluation) -> Table:
    table = Table(title="families at risk checked against the world's ground truth", show_header=False)
    table.add_row("PKH families in the world", f"{ev.pkh_families:,}")
    table.add_row("at-risk families planted / found by the report",
                  f"{ev.planted_families:,} / {ev.found_families:,}")
    for reason, t in ev.reasons.items():
        table.add_row(f"  {reason}: children planted", f"{t.planted:,}: found {t.found:,}, reported for another "
                      f"reason {t.other_reason:,}, missed {t.missed:,}")
    table.add_row("children whose record carries a NIK / identity error",
                  f"{ev.link_planted:,}: reported as not linking {ev.link_reported:,}, linked anyway "
                  f"{ev.link_linked_anyway:,}")
    table.add_row("families whose children all attend and link, reported (must be 0)",
                  f"{ev.clean_reported:,} of {ev.clean_families:,}")
    table.add_row("children reported without a school record although the world has one (a record the hub "
                  "never received: Dapodik holds it back)", f"{ev.record_not_received:,}")
    if ev.unmatched_rows:
        table.add_row("report rows the world could not place", f"{ev.unmatched_rows:,}")
    return table


@contextmanager
def _steps(title: str, total: int | None) -> Iterator[Callable[[str], None]]:
    """A progress bar that advances one step per call of the function it yields (files written, services
    loaded), showing the last step; ``total`` None: the bar counts without a known end."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn(f"[bold]{title}[/bold]"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TextColumn("{task.description}"), console=console) as bar:
        task = bar.add_task("", total=total)
        yield lambda text: bar.update(task, advance=1, description=text)


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM as Ctrl-C: the ``finally`` that stops the services runs, instead of leaving them behind."""
    raise KeyboardInterrupt


@app.command()
def demo(
    families: int = typer.Option(5000, min=10, help="Registry families in the generated world"),
    seed: int = typer.Option(42, help="World seed (same seed, same world)"),
    workdir: Path = typer.Option(Path("var/demo"), help="Where the world, databases and logs go"),
    keep_running: bool = typer.Option(False, "--keep-running", help="Leave the services running (Ctrl-C stops)"),
    free_ports: bool = typer.Option(False, "--free-ports", help="Any free ports instead of 8100-8103 (another stack "
                                    "runs on this machine)"),
) -> None:
    """Generate a world, start the four services, load, sync through the hub's API, report, stop."""
    started = time.perf_counter()
    if workdir.exists():
        shutil.rmtree(workdir)
    world_dir = workdir / "world"
    console.rule("[bold]Jembatan demo")
    with _steps("generating the synthetic world", None) as step:
        summary = generate_world(WorldConfig(seed=seed, n_families=families), world_dir,
                                 on_file=lambda name, rows: step(f"{name} ({rows:,} rows)"))
    console.print(f"world: {summary}")
    ports = {name: free_port() for name in SERVICES} if free_ports else dict(DEFAULT_PORTS)
    stack = Stack(workdir, ports=ports, log_level="WARNING")
    with _steps("loading the world into the services' databases", len(SERVICES)) as step:
        stack.load_world(world_dir, on_step=lambda service: step(f"{service} loaded"))
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` (a service manager, a closed terminal) stops the stack too
    with console.status("starting kemensos_mock, emis_gateway, dapodik_gateway, sync_hub"):
        stack.start()
    try:
        hub = HubClient(stack.url("sync_hub"), stack.hub_operator)
        run: SyncRun = follow(hub, hub.start_run().id, poll=0.5)
        console.print(render_run(run))
        for error in run.errors:
            console.print(f"[red]error:[/red] {error}")
        with console.status("checking the gateways against ground truth"):
            ev = evaluate_world(world_dir, EmisClient(stack.url("emis_gateway"), stack.creds.hub_to_emis),
                                DapodikClient(stack.url("dapodik_gateway"), stack.creds.hub_to_dapodik))
        console.print(render_evaluation(ev))
        if run.periode:
            with console.status("checking the registry's education verifications against ground truth"):
                vc = check_world(world_dir, KemensosClient(stack.url("kemensos_mock"), stack.creds.hub_to_kemensos),
                                 run.periode)
            console.print(render_verifications(vc))
        console.print(render_at_risk(run))
        if run.at_risk is not None and run.periode:
            with console.status("checking the families-at-risk report against ground truth"):
                rev = evaluate_report(world_dir, run.periode, hub.iter_families_at_risk(run.periode))
            console.print(render_risk_evaluation(rev))
            for example in rev.examples:
                console.print(f"[red]{example}[/red]")
        docs = Table(title="OpenAPI docs", show_header=False)
        for service in SERVICES:
            docs.add_row(service, f"{stack.url(service)}/docs")
        console.print(docs)
        console.print(f"logs: {workdir / 'logs'}; total time {time.perf_counter() - started:.1f} s")
        if keep_running:
            console.print(f"operator token for the gateways and the registry: [bold]{stack.creds.operator}[/bold]")
            console.print(f"people at the hub: jembatan token --key-dir {workdir / 'keys'} --user NAME --role ROLE "
                          "(viewer, reviewer, admin, auditor)")
            console.print(f"\n[bold]operator console:[/bold] {stack.url('sync_hub')}/console — sign in with one of "
                          "these tokens (valid 8 h; paste it on the sign-in page):")
            for user, role in (("vina", "viewer"), ("rudi", "reviewer"), ("ayu", "admin"), ("aldi", "auditor")):
                console.print(f"  {role:<8} ({user}): {stack.hub_token(user, role, ttl_seconds=8 * 3600)}",
                              soft_wrap=True)
            try:
                console.print("services keep running; press Ctrl-C to stop them")
                while all(p.poll() is None for p in stack.procs.values()):
                    time.sleep(1)
            except KeyboardInterrupt:
                pass
        if run.status.value != "SUCCEEDED":
            raise typer.Exit(1)
    finally:
        codes = stack.stop()
        # uvicorn exits by re-raising SIGTERM after a graceful shutdown (-15); -9 means it had to be killed
        words = {0: "stopped", -15: "stopped", -9: "killed"}
        console.print("services: " + ", ".join(f"{s} {words.get(c, f'exit {c}')}" for s, c in codes.items()))


class PersonRole(StrEnum):
    viewer = "viewer"
    reviewer = "reviewer"
    admin = "admin"
    auditor = "auditor"


@app.command()
def token(
    user: str = typer.Option(..., "--user", help="The person (the token's subject)"),
    role: list[PersonRole] = typer.Option(..., "--role", help="viewer, reviewer, admin or auditor (repeatable)"),
    ttl: int = typer.Option(3600, min=60, max=12 * 3600, help="Seconds the token is valid"),
    key_dir: Path | None = typer.Option(None, help="The local issuer's key directory (default: HUB_LOCAL_KEY_DIR, "
                                        "./data/keys); the key is made on first use"),
    rotate: bool = typer.Option(False, "--rotate", help="Sign with a new key first (the old one stays "
                                "published, so the tokens it signed stay valid until they expire)"),
) -> None:
    """Print a short-lived bearer token for a person at the hub, signed by the local issuer (the embedded
    default: no identity provider needed). Production uses the OIDC provider's tokens (docs/security.md)."""
    settings = HubSettings()
    issuer = LocalIssuer(key_dir or settings.local_key_dir, settings.oidc_issuer, settings.oidc_audience)
    if rotate:
        issuer.rotate()
    typer.echo(issuer.issue(user, [r.value for r in role], ttl_seconds=ttl))


@app.command()
def openapi(
    out: Path = typer.Option(None, help="Directory to write <service>.json to (default: docs/openapi)"),
    check: bool = typer.Option(False, "--check", help="Write nothing; exit 1 when a published spec is stale"),
) -> None:
    """Write the OpenAPI spec of every service (generated from the code) to docs/openapi/."""
    from jembatan import openapi as specs

    target = out or specs.DOCS
    if check:
        stale = specs.stale(target)
        if stale:
            console.print(f"[red]stale OpenAPI in {target}: {', '.join(stale)}[/red] (run: jembatan openapi)")
            raise typer.Exit(1)
        console.print("OpenAPI specs are up to date")
        return
    for path in specs.write(target):
        console.print(f"wrote {path}")
