"""Keyset paging of the change feed on SQLite and PostgreSQL: every student exactly once."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from services.emis_gateway.loader.service import load_world
from services.emis_gateway.main import MIGRATIONS
from services.emis_gateway.siswa.models import SiswaRow
from services.emis_gateway.tests.conftest import NSM_A, NSM_B, AppFactory, madrasah, seed, siswa, write_world
from shared.db import make_engine, migrate


def walk(client: TestClient, limit: int, **params: str) -> tuple[list[str], int]:
    ids: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        query: dict[str, str | int] = {"limit": limit, **params}
        if cursor:
            query["cursor"] = cursor
        body = client.get("/api/v1/siswa", params=query).json()
        pages += 1
        ids += [s["siswa_id"] for s in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            return ids, pages
        assert pages < 100, "paging does not end"


def set_updated_at(db_url: str, ids: list[str], at: datetime) -> None:
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(update(SiswaRow).where(SiswaRow.siswa_id.in_(ids)).values(updated_at=at))  # type: ignore[attr-defined]
    finally:
        engine.dispose()


@pytest.fixture
def feed(app_client: AppFactory, db_url: str, tmp_path: Path, auth: dict[str, str]) -> TestClient:
    seed(db_url, tmp_path / "world", 37)  # one load: all 37 share one updated_at
    client = app_client(db_url)
    client.headers.update(auth)
    return client


def test_equal_timestamps_every_student_exactly_once(feed: TestClient) -> None:
    for limit in (1, 5, 36, 37, 1000):
        ids, pages = walk(feed, limit)
        assert ids == [f"siswa-{i:04d}" for i in range(37)], limit
        assert pages == -(-37 // limit), limit


def test_mixed_timestamps_in_order_of_change(feed: TestClient, db_url: str) -> None:
    base = datetime(2026, 1, 1, tzinfo=UTC)
    set_updated_at(db_url, [f"siswa-{i:04d}" for i in range(0, 37, 3)], base + timedelta(microseconds=1))
    set_updated_at(db_url, [f"siswa-{i:04d}" for i in range(1, 37, 3)], base)
    ids, _ = walk(feed, 4)
    assert sorted(ids) == [f"siswa-{i:04d}" for i in range(37)]
    assert len(ids) == len(set(ids))
    old = [f"siswa-{i:04d}" for i in range(1, 37, 3)]
    assert ids[:len(old)] == old, "rows with the oldest updated_at come first, ordered by id"
    rows = {s["siswa_id"]: s["updated_at"] for s in feed.get("/api/v1/siswa", params={"limit": 1000}).json()["items"]}
    assert rows["siswa-0000"] == "2026-01-01T00:00:00.000001Z"


def test_resume_from_a_cursor_sees_later_changes(feed: TestClient, db_url: str) -> None:
    """The hub walks the feed, a record changes afterwards, and the next walk from the last cursor sees it."""
    first = feed.get("/api/v1/siswa", params={"limit": 36}).json()
    last_page = feed.get("/api/v1/siswa", params={"limit": 36, "cursor": first["next_cursor"]}).json()
    assert [s["siswa_id"] for s in last_page["items"]] == ["siswa-0036"]
    set_updated_at(db_url, ["siswa-0005"], datetime.now(UTC) + timedelta(seconds=5))
    again = feed.get("/api/v1/siswa", params={"limit": 36, "cursor": first["next_cursor"]}).json()
    assert [s["siswa_id"] for s in again["items"]] == ["siswa-0036", "siswa-0005"]


def test_nsm_filter_pages_only_that_madrasah(app_client: AppFactory, db_url: str, tmp_path: Path,
                                             auth: dict[str, str]) -> None:
    world = write_world(tmp_path / "w", [madrasah(NSM_A), madrasah(NSM_B)],
                        [siswa(i, NSM_A if i % 2 else NSM_B) for i in range(21)])
    migrate(MIGRATIONS, db_url)
    engine = make_engine(db_url)
    assert load_world(engine, world).ok
    engine.dispose()
    client = app_client(db_url)
    client.headers.update(auth)
    ids, _ = walk(client, 3, nsm=NSM_A)
    assert ids == [f"siswa-{i:04d}" for i in range(21) if i % 2]


def _token(at: str, key: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([at, key]).encode()).decode().rstrip("=")


FORGED_CURSORS = [
    "/api/v1/siswa?cursor=" + _token("2026-01-01T00:00:00+00:00", "a\x00"),
    "/api/v1/siswa?cursor=" + _token("2026-01-01T00:00:00+00:00", "\ud800"),
    "/api/v1/siswa?cursor=" + _token("2026-01-01T00:00:00+00:00", "x" * 65),
    "/api/v1/siswa?cursor=" + _token("0001-01-01T00:00:00+05:00", "a"),
    "/api/v1/siswa?cursor=" + _token("2026-01-01T00:00:00", "a"),
    "/api/v1/madrasah?cursor=" + _token("2026-01-01T00:00:00+00:00", "1234567890123"),
    "/api/v1/madrasah?cursor=" + _token("2026-01-01T00:00:00+00:00", "a\x00"),
]


def test_forged_cursors_and_odd_ids_are_4xx_on_both_databases(feed: TestClient) -> None:
    for path in FORGED_CURSORS:
        r = feed.get(path)
        assert r.status_code == 422, (path, r.text)
        assert (r.json()["errors"][0]["field"], r.json()["errors"][0]["rule"]) == ("cursor", "opaque_cursor")
    for path in ("/api/v1/siswa/a%00b", "/api/v1/siswa/%ED%A0%80", "/api/v1/siswa/%FF"):
        assert 400 <= feed.get(path).status_code < 500, path
