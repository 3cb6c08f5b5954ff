"""Fixtures available to every test in the repository.

``db_url`` runs a storage test twice: on SQLite (the embedded default) and on PostgreSQL (production).
On CI (``CI=true``) an unreachable PostgreSQL fails the PostgreSQL variant; elsewhere it is skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from shared.testing import MigrationTemplates, fresh_postgres_database, postgres_unreachable

_TEMPLATES = MigrationTemplates()


@pytest.fixture(scope="session", autouse=True)
def migration_templates() -> Iterator[MigrationTemplates]:
    """An upgrade to head of an empty database replays the chain's result, made once per process
    (``shared.testing.MigrationTemplates``)."""
    _TEMPLATES.install()
    yield _TEMPLATES
    _TEMPLATES.uninstall()


@pytest.fixture
def real_migrations() -> Iterator[None]:
    """Run every Alembic chain for real in this test (tests of the migrations themselves)."""
    _TEMPLATES.enabled = False
    try:
        yield
    finally:
        _TEMPLATES.enabled = True


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    yield from _postgres()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database, for tests of what only PostgreSQL does (row locks between sessions)."""
    yield from _postgres()


def _postgres() -> Iterator[str]:
    try:
        ctx = fresh_postgres_database()
        url = ctx.__enter__()
    except sa.exc.OperationalError as exc:
        postgres_unreachable(exc)
    try:
        yield url
    finally:
        ctx.__exit__(None, None, None)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'test.db'}"



@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The order xdist hands the test files out in (``--dist loadfile --no-loadscope-reorder``, pyproject's addopts:
    each file runs whole on one worker, so a module-scoped fixture, a generated world, a started stack or a first
    sync run, is built once and not once per worker): the end-to-end files first (minutes each), then the other
    files with module-scoped fixtures, then the rest, so that the many short tests fill in around the long ones and
    both workers finish together. A file's tests keep their order; without xdist only the files' order changes."""
    rank: dict[str, int] = {}
    for item in items:
        module = item.nodeid.split("::")[0]
        info = getattr(item, "_fixtureinfo", None)
        if module in rank or info is None:
            continue
        defs = [d for name in info.names_closure for d in info.name2fixturedefs.get(name, ())]
        if module.startswith("tests/e2e/"):
            rank[module] = 0
        elif any(d.scope in ("module", "class", "package") for d in defs):
            rank[module] = 1
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], 2))  # stable
