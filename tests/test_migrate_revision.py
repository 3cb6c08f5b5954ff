"""``python -m services.X migrate REVISION`` (issue 13 point 9): an older revision downgrades, the command says
where the database really is, an unknown revision is refused naming the ones there are (exit 2)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from typer.testing import CliRunner

from jembatan.stack import PREFIX, SERVICES
from shared.db import RevisionError, alembic_config, current_revision, migrate_to


def _migrations(service: str) -> Path:
    return Path(importlib.import_module(f"services.{service}").__file__).parent / "migrations"  # type: ignore[arg-type]


@pytest.mark.parametrize("service", SERVICES)
def test_an_older_revision_downgrades_and_head_comes_back(service: str, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    script = ScriptDirectory.from_config(alembic_config(_migrations(service), url))
    head = script.get_current_head()
    previous = script.get_revision(head).down_revision
    assert migrate_to(_migrations(service), url) == (None, head)
    assert migrate_to(_migrations(service), url, previous) == (head, previous)  # type: ignore[arg-type]
    assert current_revision(url) == previous
    assert migrate_to(_migrations(service), url, "head") == (previous, head)
    with pytest.raises(RevisionError):
        migrate_to(_migrations(service), url, "9999_nope")
    assert current_revision(url) == head


def test_the_cli_reports_the_revision_the_database_is_really_at(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from services.emis_gateway import config
    from services.emis_gateway.cli import app

    url = f"sqlite:///{tmp_path / 'emis.db'}"
    head = ScriptDirectory.from_config(alembic_config(_migrations("emis_gateway"), url)).get_current_head()
    monkeypatch.setenv(f"{PREFIX['emis_gateway']}DATABASE_URL", url)
    config.get_settings.cache_clear()
    try:
        runner = CliRunner()
        assert f"to {head}" in runner.invoke(app, ["migrate"]).output
        down = runner.invoke(app, ["migrate", "0004_sync_log"])
        assert down.exit_code == 0 and f"from {head} to 0004_sync_log" in down.output
        assert current_revision(url) == "0004_sync_log"
        bad = runner.invoke(app, ["migrate", "0042"])
        assert bad.exit_code == 2 and "0001_initial" in bad.output and "Traceback" not in bad.output
    finally:
        config.get_settings.cache_clear()
