"""Command line of kemensos_mock: ``python -m services.kemensos_mock serve | migrate | load DIR``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from services.kemensos_mock.config import get_settings
from services.kemensos_mock.main import MIGRATIONS, SERVICE, create_app
from services.kemensos_mock.world.service import CHUNK, LoadFailed, load_world
from shared.db import make_engine, migrate_command
from shared.db import migrate as migrate_db
from shared.logging import configure

app = typer.Typer(help="Kemensos SIKS-NG / DTSEN stand-in (settings from KEMENSOS_* variables).",
                  no_args_is_help=True, add_completion=False)


@app.command()
def serve() -> None:
    """Run the API with uvicorn on KEMENSOS_HOST:KEMENSOS_PORT (default 127.0.0.1:8101)."""
    import uvicorn

    from shared import heap
    from shared.http_server import KEEP_ALIVE_SECONDS

    settings = get_settings()
    heap.settle_on_start()  # once its lifespan is done: shared.heap
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None,
                log_level=settings.log_level.lower(), timeout_keep_alive=KEEP_ALIVE_SECONDS)


@app.command()
def migrate(revision: Annotated[str, typer.Argument(help="Alembic revision")] = "head") -> None:
    """Bring the database (KEMENSOS_DATABASE_URL) to REVISION (default: the newest; an older one downgrades)."""
    settings = get_settings()
    configure(SERVICE, settings.log_level, settings.log_format)
    migrate_command(MIGRATIONS, settings.database_url, revision)


@app.command()
def load(
    world_dir: Annotated[Path, typer.Argument(help="Directory with keluarga.jsonl, anggota_keluarga.jsonl, "
                                                   "pkh.jsonl and kip.jsonl", file_okay=False)],
    replace: Annotated[bool, typer.Option("--replace", help="Empty the registry first")] = False,
    chunk: Annotated[int, typer.Option(min=1, max=100_000, help="Rows per INSERT batch")] = CHUNK,
) -> None:
    """Load a world into the registry: every line validated, all or nothing, in one transaction."""
    settings = get_settings()
    configure(SERVICE, settings.log_level, settings.log_format)
    if settings.auto_migrate:
        migrate_db(MIGRATIONS, settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        report = load_world(engine, world_dir, replace=replace, chunk=chunk)
    except LoadFailed as failed:
        for error in failed.errors:
            typer.echo(str(error), err=True)
        more = failed.total - len(failed.errors)
        if more > 0:
            typer.echo(f"... and {more} more", err=True)
        typer.echo(f"load failed: {failed.total} error(s); nothing was written", err=True)
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    typer.echo(str(report))


