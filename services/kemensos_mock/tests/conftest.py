"""Fixtures of kemensos_mock's tests: a tiny world loaded once, copied per test; apps and clients."""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI

with warnings.catch_warnings():
    # starlette warns once, at import, that it prefers httpx2 over httpx; the project pins httpx.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from services.kemensos_mock.config import Settings
from services.kemensos_mock.main import MIGRATIONS, create_app
from services.kemensos_mock.tests.world import World, tiny_world
from services.kemensos_mock.world.service import load_world
from shared.db import make_engine, migrate
from shared.testing import new_token

API_TOKEN = new_token()
ADMIN_TOKEN = new_token()


@pytest.fixture(scope="session")
def world() -> World:
    return tiny_world()


@pytest.fixture(scope="session")
def world_dir(tmp_path_factory: pytest.TempPathFactory, world: World) -> Path:
    return world.write(tmp_path_factory.mktemp("world"))


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory, world_dir: Path) -> Path:
    """A SQLite registry migrated to head with the tiny world loaded (copied, never used directly)."""
    path = tmp_path_factory.mktemp("template") / "kemensos.db"
    url = f"sqlite:///{path}"
    migrate(MIGRATIONS, url)
    engine = make_engine(url)
    try:
        load_world(engine, world_dir)
    finally:
        engine.dispose()
    return path


@pytest.fixture
def loaded_url(tmp_path: Path, template_db: Path) -> str:
    """A private copy of the loaded registry for one test."""
    target = tmp_path / "kemensos.db"
    shutil.copyfile(template_db, target)
    return f"sqlite:///{target}"


def make_settings(url: str, **overrides: object) -> Settings:
    return Settings(database_url=url, api_tokens={"sync_hub": API_TOKEN}, admin_token=ADMIN_TOKEN,
                    **overrides)  # type: ignore[arg-type]


@pytest.fixture
def settings(loaded_url: str) -> Settings:
    return make_settings(loaded_url)


@pytest.fixture
def app(settings: Settings) -> Iterator[FastAPI]:
    """The app, started (lifespan run) for the length of one test."""
    app = create_app(settings)
    with TestClient(app):
        yield app


@pytest.fixture
def anon(app: FastAPI) -> TestClient:
    """A client of the running app without any credential."""
    return TestClient(app)


@pytest.fixture
def client(app: FastAPI) -> TestClient:
    """A client of the running app with a valid API credential."""
    return TestClient(app, headers={"Authorization": f"Bearer {API_TOKEN}"})


@pytest.fixture
def admin(app: FastAPI) -> TestClient:
    """A client of the same running app with the admin credential."""
    return TestClient(app, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
