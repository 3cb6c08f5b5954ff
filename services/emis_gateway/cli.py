"""``python -m services.emis_gateway serve | migrate | load DIR [--replace]``"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from services.emis_gateway.config import get_settings
from services.emis_gateway.loader.service import load_world
from services.emis_gateway.main import MIGRATIONS, SERVICE
from shared.db import make_engine, migrate, migrate_command
from shared.logging import configure

app = typer.Typer(help="EMIS 4.0 gateway (settings from EMIS_* environment variables)", no_args_is_help=True,
                  add_completion=False)
SHOWN_ERRORS = 50


@app.command()
def serve() -> None:
    """Run the HTTP API on EMIS_HOST:EMIS_PORT (default 127.0.0.1:8102)."""
    from shared.settings import serve_app

    settings = get_settings()
    serve_app("services.emis_gateway.main", settings, log_level=settings.log_level.lower())


@app.command("migrate")
def migrate_cmd(revision: Annotated[str, typer.Argument(help="Alembic revision")] = "head") -> None:
    """Bring the database (EMIS_DATABASE_URL) to REVISION (default: the newest; an older one downgrades)."""
    settings = get_settings()
    configure(SERVICE, settings.log_level, settings.log_format)
    migrate_command(MIGRATIONS, settings.database_url, revision)


@app.command()
def load(
    directory: Annotated[Path, typer.Argument(help="World directory with madrasah.jsonl and siswa.jsonl",
                                              exists=True, file_okay=False, dir_okay=True)],
    replace: Annotated[bool, typer.Option("--replace", help="Delete every stored row first")] = False,
) -> None:
    """Load madrasah.jsonl and siswa.jsonl: every line validated, all or nothing in one transaction."""
    settings = get_settings()
    configure(SERVICE, settings.log_level, settings.log_format)
    if settings.auto_migrate:
        migrate(MIGRATIONS, settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        report = load_world(engine, directory, replace=replace)
    finally:
        engine.dispose()
    if not report.ok:
        for error in report.errors[:SHOWN_ERRORS]:
            typer.echo(str(error), err=True)
        more = report.error_count - min(len(report.errors), SHOWN_ERRORS)
        if more > 0:
            typer.echo(f"... and {more} more", err=True)
        typer.echo(f"{report.error_count} error(s); nothing was written", err=True)
        raise typer.Exit(code=1)
    extra = f", {report.pesantren} pesantren and {report.santri} santri" if report.pesantren else ""
    if report.kehadiran or report.keluar:
        extra += f", {report.kehadiran} months of attendance, {report.keluar} siswa keluar"
    typer.echo(f"loaded {report.madrasah} madrasah and {report.siswa} siswa{extra}")
