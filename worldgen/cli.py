"""Command line: ``python -m worldgen generate --seed 1 --families 5000 --out data/world``
(or ``--students 1000000`` for a world of exactly that many student records)."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from worldgen.config import REFERENCE_DATE, WorldConfig
from worldgen.generate import generate_world

app = typer.Typer(help="Deterministic synthetic world for Jembatan (docs/world.md).", no_args_is_help=True)


@app.callback()
def main() -> None:
    """Synthetic Kemensos / EMIS / Dapodik data with ground truth."""


@app.command()
def generate(
    out: Path = typer.Option(..., "--out", help="Output directory (created if missing)"),
    seed: int = typer.Option(0, "--seed", help="Random seed; the same seed gives byte-identical files"),
    families: int = typer.Option(5000, "--families", min=1, help="Families to generate"),
    students: int | None = typer.Option(None, "--students", min=1, max=2_000_000,
                                        help="Student records wanted instead of a number of families: "
                                        "as many families as it takes, exactly this many records"),
    reference_date: str = typer.Option(REFERENCE_DATE.isoformat(), "--reference-date",
                                       help="'Today' inside the world (YYYY-MM-DD)"),
) -> None:
    """Generate a world into OUT and print the row counts."""
    try:
        ref = date.fromisoformat(reference_date)
    except ValueError as exc:
        raise typer.BadParameter(f"not a date: {reference_date}", param_hint="--reference-date") from exc
    config = WorldConfig(seed=seed, n_families=families, n_students=students, reference_date=ref)
    started = time.perf_counter()
    summary = generate_world(config, out)
    elapsed = time.perf_counter() - started

    console = Console()
    size = f"students={students}" if students else f"families={families}"
    table = Table(title=f"World seed={seed} {size} -> {out}")
    table.add_column("file")
    table.add_column("rows", justify="right")
    for name, count in summary.counts.items():
        table.add_row(name, f"{count:,}")
    console.print(table)
    errors = Table(title="Errors applied (student records)")
    errors.add_column("error")
    errors.add_column("records", justify="right")
    for code, count in summary.errors.items():
        errors.add_row(code, f"{count:,}")
    console.print(errors)
    hard = Table(title="Adversarial cases (student records)")
    hard.add_column("case")
    hard.add_column("records", justify="right")
    for tag, count in summary.adversarial.items():
        hard.add_row(tag, f"{count:,}")
    console.print(hard)
    console.print(f"{summary.n_registry_families:,} of {summary.n_families:,} families in the registry, "
                  f"{summary.n_persons:,} persons, {summary.n_students:,} student records "
                  f"in {elapsed:.1f} s")
