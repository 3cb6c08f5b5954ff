"""GET /api/v1/changes: the whole registry once, then only what changed, never skipping timestamp ties."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from services.kemensos_mock.changes import service as changes
from services.kemensos_mock.changes.schemas import ChangesQuery
from services.kemensos_mock.kip import service as kip
from services.kemensos_mock.main import MIGRATIONS
from services.kemensos_mock.registry import service as registry
from services.kemensos_mock.registry.schemas import KeluargaUpdate
from services.kemensos_mock.tests.world import KK1, KK2, KK3, World
from services.kemensos_mock.world.service import load_world
from shared.contracts.kemensos import KipRecord, PkhRecord
from shared.cursor import Cursor
from shared.db import make_engine, migrate, session_scope

CHANGES = "/api/v1/changes"
NEW_KK = "3201010606260006"


def read_feed(client: TestClient, cursor: str | None = None, limit: int = 3) -> tuple[list[dict], str | None, int]:
    """Every item from ``cursor`` to the end; returns the items, the cursor to resume from, the pages."""
    items: list[dict] = []
    pages = 0
    while True:
        params: dict[str, object] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        body = client.get(CHANGES, params=params).json()
        pages += 1
        items += body["items"]
        cursor = body["next_cursor"]
        if not body["has_more"]:
            return items, cursor, pages
        assert pages < 100, "the feed does not end"


def test_first_read_is_every_family_and_pkh_row_once_in_order(client: TestClient, world: World) -> None:
    items, _, pages = read_feed(client, limit=3)
    assert len({i["updated_at"] for i in items}) == 1  # one load, one timestamp: every row ties
    keys = [(i["updated_at"], i["version"]) for i in items]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert sorted(i["no_kk"] for i in items if i["kind"] == "keluarga") == sorted(k["no_kk"] for k in world.keluarga)
    assert sorted((i["no_kk"], i["pkh"]["tahun"], i["pkh"]["tahap"]) for i in items if i["kind"] == "pkh") == \
        sorted((p["no_kk"], p["tahun"], p["tahap"]) for p in world.pkh)
    assert pages == 3  # 9 items, 3 per page
    family = next(i for i in items if i["no_kk"] == KK1 and i["kind"] == "keluarga")
    assert family["keluarga"]["pkh"]["periode"] == "2026 tahap II" and family["pkh"] is None


def _feed_with_cursor(client: TestClient) -> str:
    items, cursor, pages = read_feed(client, limit=1000)
    assert pages == 1 and len(items) == 9 and cursor is not None
    last = items[-1]
    assert Cursor.decode(cursor) == Cursor(datetime.fromisoformat(last["updated_at"]), str(last["version"]))
    return cursor


def test_resuming_gives_only_what_changed_in_change_order(client: TestClient, admin: TestClient) -> None:
    cursor = _feed_with_cursor(client)
    assert admin.put("/api/v1/admin/pkh", json={"no_kk": KK2, "status": "AKTIF", "komponen": ["SD"],
                                                "tahun": 2026, "tahap": 3}).status_code == 200
    assert admin.patch(f"/api/v1/admin/keluarga/{KK1}", json={"no_kk": NEW_KK, "desil": 3}).status_code == 200
    assert admin.patch(f"/api/v1/admin/keluarga/{KK3}", json={"desil": 5}).status_code == 200
    assert admin.put("/api/v1/admin/kip", json={"no_kip": "NEW001", "nama": "X", "tanggal_lahir": "2012-01-01",
                                                "kode_wilayah": "3201011001", "jenjang": "SD",
                                                "tahun": 2026}).status_code == 200  # KIP is not in this feed
    items, _, _ = read_feed(client, cursor, limit=2)
    assert [(i["kind"], i["no_kk"]) for i in items] == [("pkh", KK2), ("keluarga", NEW_KK), ("keluarga", KK3)]
    assert items[0]["pkh"]["periode"] == "2026 tahap III"
    moved = items[1]
    assert moved["no_kk_lama"] == [KK1] and moved["keluarga"]["desil"] == 3
    assert moved["keluarga"]["pkh"]["periode"] == "2026 tahap II"  # the PKH rows followed the new KK
    versions = [i["version"] for i in items]
    assert versions == sorted(versions)
    body = client.get(CHANGES, params={"limit": 1}).json()
    assert body["observed_seq"] == max(versions) + 1  # the KIP change took the last number


def test_nothing_changed_means_an_empty_page_and_the_same_cursor(client: TestClient) -> None:
    cursor = _feed_with_cursor(client)
    body = client.get(CHANGES, params={"cursor": cursor}).json()
    assert body["items"] == [] and body["has_more"] is False and body["next_cursor"] == cursor


@pytest.mark.parametrize(("params", "field", "rule"), [
    ({"limit": 0}, "limit", "greater_than_equal"),
    ({"limit": 1001}, "limit", "less_than_equal"),
    ({"since": 5}, "since", "extra_forbidden"),
    ({"cursor": "%%%"}, "cursor", "opaque_cursor"),
])
def test_bad_query_is_422(client: TestClient, params: dict, field: str, rule: str) -> None:
    response = client.get(CHANGES, params=params)
    assert response.status_code == 422
    assert {"field": field, "rule": rule} in [{"field": e["field"], "rule": e["rule"]}
                                              for e in response.json()["errors"]]


@pytest.fixture
def engine(db_url: str, world_dir: Path) -> Iterator[Engine]:
    migrate(MIGRATIONS, db_url)
    engine = make_engine(db_url)
    load_world(engine, world_dir)
    yield engine
    engine.dispose()


def test_feed_on_both_databases_with_ties_and_changes(engine: Engine, world: World) -> None:
    with session_scope(engine) as s:
        first = changes.list_changes(s, ChangesQuery(limit=4))
    with session_scope(engine) as s:  # changes after the first page: a seen and an unseen record
        seen_kk = next(i.no_kk for i in first.items if i.kind == "keluarga")
        registry.update_keluarga(s, seen_kk, KeluargaUpdate(desil=10))
        registry.put_pkh(s, PkhRecord(no_kk=KK3, status="AKTIF", komponen=["SMA"], tahun=2026, tahap=3))
        kip.put_kip(s, KipRecord.model_validate({**world.kip[0], "nama": "BARU"}))
    seen = [(i.kind, i.version) for i in first.items]
    page = first
    while page.has_more:
        with session_scope(engine) as s:
            page = changes.list_changes(s, ChangesQuery(limit=4, cursor=page.next_cursor))
        seen += [(i.kind, i.version) for i in page.items]
    total = len(world.keluarga) + len(world.pkh)
    assert len(seen) == total + 2  # every record once, the changed seen one twice, the new PKH row once
    assert len(set(seen)) == len(seen)
    assert [v for _, v in seen[-2:]] == [world.versioned_rows + 1, world.versioned_rows + 2]
    assert page.observed_seq == world.versioned_rows + 3
