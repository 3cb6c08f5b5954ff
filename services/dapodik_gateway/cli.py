"""``python -m services.dapodik_gateway serve | migrate | load DIR``"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from services.dapodik_gateway import db
from services.dapodik_gateway.config import SERVICE_NAME, get_settings
from services.dapodik_gateway.loader.service import (
    KEHADIRAN_FILE,
    KELUAR_FILE,
    PESERTA_DIDIK_FILE,
    SEKOLAH_FILE,
    load_world,
)
from shared.db import migrate_command
from shared.logging import configure

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Dapodik gateway (settings from DAPODIK_* environment variables).")


@app.command()
def serve() -> None:
    """Run the HTTP service on DAPODIK_HOST:DAPODIK_PORT (default 127.0.0.1:8103)."""
    from shared.settings import serve_app

    settings = get_settings()
    configure(SERVICE_NAME, settings.log_level, settings.log_format)
    serve_app("services.dapodik_gateway.main", settings)


@app.command()
def migrate(revision: Annotated[str, typer.Argument(help="Alembic revision")] = "head") -> None:
    """Bring the database at DAPODIK_DATABASE_URL to REVISION (default: the newest; an older one downgrades)."""
    settings = get_settings()
    configure(SERVICE_NAME, settings.log_level, settings.log_format)
    migrate_command(db.MIGRATIONS, settings.database_url, revision)


@app.command()
def load(
    directory: Annotated[Path, typer.Argument(help=f"World directory with {SEKOLAH_FILE} and {PESERTA_DIDIK_FILE} "
                                              f"(and, when present, {KEHADIRAN_FILE} and {KELUAR_FILE})",
                                              exists=True, file_okay=False, dir_okay=True)],
    replace: Annotated[bool, typer.Option("--replace", help="Delete every school, student, provenance "
                                          "and history row first (in the same transaction)")] = False,
    max_errors: Annotated[int, typer.Option(min=1, help="Errors to print at most")] = 100,
) -> None:
    """Load a world directory: all lines valid, or nothing written and every bad line reported."""
    settings = get_settings()
    configure(SERVICE_NAME, settings.log_level, settings.log_format)
    if settings.auto_migrate:
        db.migrate(settings.database_url)
    engine = db.make_engine(settings.database_url)
    try:
        report = load_world(engine, directory, replace=replace, max_errors=max_errors)
    finally:
        engine.dispose()
    if not report.ok:
        for error in report.errors:
            typer.echo(str(error), err=True)
        more = report.error_count - len(report.errors)
        typer.echo(f"{report.error_count} error(s){f' ({more} not shown)' if more else ''}; nothing was written",
                   err=True)
        raise typer.Exit(1)
    extra = (f", {report.kehadiran} months of attendance, {report.keluar} students who left"
             if report.kehadiran or report.keluar else "")
    typer.echo(f"loaded {report.sekolah} sekolah and {report.peserta_didik} peserta_didik{extra}")
