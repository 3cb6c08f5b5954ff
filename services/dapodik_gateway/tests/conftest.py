"""Fixtures of the Dapodik gateway tests: a loaded world and an app client with a bearer token."""

from __future__ import annotations

import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

with warnings.catch_warnings():
    # starlette warns once, at import, that it prefers httpx2 over httpx; the project pins httpx.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from services.dapodik_gateway import db
from services.dapodik_gateway.config import Settings
from services.dapodik_gateway.loader.service import load_world
from services.dapodik_gateway.main import create_app
from services.dapodik_gateway.tests import factories as f
from shared.testing import new_token

# An operator of all schools (API_TOKENS "operator", as jembatan.stack configures it).
OPERATOR = "operator-token-0123456789"
AS_OPERATOR = {"Authorization": f"Bearer {OPERATOR}"}


@pytest.fixture
def token() -> str:
    return new_token()


_TEMPLATE: list[Path] = []


def _migrate(url: str) -> None:
    """Bring the database to head; a new SQLite file is a copy of one migrated once per test process."""
    parsed = make_url(url)
    target = Path(parsed.database or "") if parsed.get_backend_name() == "sqlite" else None
    if target is None or target.exists() or not parsed.database or parsed.database == ":memory:":
        db.migrate(url)
        return
    if not _TEMPLATE:
        template = Path(tempfile.mkdtemp(prefix="dapodik-template-")) / "template.db"
        db.migrate(f"sqlite:///{template}")
        _TEMPLATE.append(template)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_TEMPLATE[0], target)


def load(url: str, directory: Path, schools: list[dict[str, Any]], students: list[dict[str, Any]],
         now: datetime | None = None) -> None:
    _migrate(url)
    engine = db.make_engine(url)
    try:
        report = load_world(engine, f.write_world(directory, schools, students), now=now)
    finally:
        engine.dispose()
    assert report.ok, report.errors


@pytest.fixture
def make_client(tmp_path: Path, token: str) -> Iterator[Callable[..., TestClient]]:
    """Build a TestClient over a database loaded with the given world, authenticated as the hub (``token``);
    ``AS_OPERATOR`` headers act as the operator of all schools."""
    opened: list[TestClient] = []

    def _make(schools: list[dict[str, Any]], students: list[dict[str, Any]], url: str | None = None,
              **settings: Any) -> TestClient:
        """``settings``: more Settings fields (e.g. ``api_tokens`` besides the hub's ``token``)."""
        url = url or f"sqlite:///{tmp_path / 'api.db'}"
        load(url, tmp_path / f"world{len(opened)}", schools, students)
        tokens = {"sync_hub": token, "operator": OPERATOR, **settings.pop("api_tokens", {})}
        settings.setdefault("auto_migrate", False)  # load() migrated it
        client = TestClient(create_app(Settings(database_url=url, api_tokens=tokens, **settings)))
        client.__enter__()
        client.headers["Authorization"] = f"Bearer {token}"
        opened.append(client)
        return client

    yield _make
    for client in opened:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    """Two schools; students 1-5 in school 1, 6-8 in school 2."""
    return make_client([f.sekolah(1), f.sekolah(2)],
                       [f.peserta_didik(n, 1) for n in range(1, 6)] + [f.peserta_didik(n, 2) for n in range(6, 9)])
