"""GET /api/v1/changes: the whole registry once (families with their members), then only what changed, never
skipping a change when rows share a timestamp or when changes are committed while a reader pages."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from services.kemensos_mock.changes import service as changes
from services.kemensos_mock.changes.schemas import ChangesQuery
from services.kemensos_mock.kip import service as kip
from services.kemensos_mock.kip.schemas import KipQuery
from services.kemensos_mock.main import MIGRATIONS
from services.kemensos_mock.registry import repository as registry_repo
from services.kemensos_mock.registry import service as registry
from services.kemensos_mock.registry.schemas import KeluargaUpdate
from services.kemensos_mock.tests.replica import Replica
from services.kemensos_mock.tests.world import ANAK1, ANAK3, IBU2, KK1, KK2, KK3, KK4, World
from services.kemensos_mock.world.service import load_world
from shared.contracts.kemensos import AnggotaKeluargaRecord, ChangePage, KipRecord, PkhRecord
from shared.cursor import Cursor
from shared.db import SQLITE_IMMEDIATE, make_engine, migrate, session_scope
from shared.errors import Conflict, NotFound

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


def test_first_read_is_every_family_with_members_and_every_pkh_row_once_in_order(client: TestClient,
                                                                                  world: World) -> None:
    items, _, pages = read_feed(client, limit=3)
    assert len({i["updated_at"] for i in items}) == 1  # one load, one timestamp: every row ties
    keys = [(i["updated_at"], i["version"]) for i in items]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    families = {i["no_kk"]: i for i in items if i["kind"] == "keluarga"}
    assert sorted(families) == sorted(k["no_kk"] for k in world.keluarga)
    for no_kk, item in families.items():  # every member with what matching needs
        want = [{k: v for k, v in m.items() if k != "no_kk"} for m in world.anggota_keluarga if m["no_kk"] == no_kk]
        assert item["anggota"] == want
        assert set(item["keluarga"]) >= {"no_kk", "kode_wilayah", "desil", "version", "updated_at", "pkh"}
    assert sorted((i["no_kk"], i["pkh"]["tahun"], i["pkh"]["tahap"]) for i in items if i["kind"] == "pkh") == \
        sorted((p["no_kk"], p["tahun"], p["tahap"]) for p in world.pkh)
    latest = sorted((i["no_kk"], i["pkh"]["periode"]) for i in items if i["kind"] == "pkh" and i["latest"])
    assert latest == [(KK1, "2026 tahap II"), (KK2, "2026 tahap II"), (KK4, "2024 tahap III")]
    assert pages == 3  # 9 items, 3 per page
    assert families[KK1]["keluarga"]["pkh"]["periode"] == "2026 tahap II" and "pkh" not in families[KK1]


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
    edit = {"no_kk": KK1, "change": {"no_kk": NEW_KK, "desil": 3}}
    assert admin.patch("/api/v1/admin/keluarga", json=edit).status_code == 200
    assert admin.patch("/api/v1/admin/keluarga", json={"no_kk": KK3, "change": {"desil": 5}}).status_code == 200
    assert admin.put("/api/v1/admin/kip", json={"no_kip": "NEW001", "nama": "X", "tanggal_lahir": "2012-01-01",
                                                "kode_wilayah": "3201011001", "jenjang": "SD",
                                                "tahun": 2026}).status_code == 200  # KIP is not in this feed
    items, _, _ = read_feed(client, cursor, limit=2)
    assert [(i["kind"], i["no_kk"]) for i in items] == [("pkh", KK2), ("keluarga", NEW_KK), ("keluarga", KK3)]
    assert items[0]["pkh"]["periode"] == "2026 tahap III" and items[0]["latest"] is True
    moved = items[1]
    assert moved["no_kk_lama"] == [KK1] and moved["keluarga"]["desil"] == 3
    assert moved["keluarga"]["pkh"]["periode"] == "2026 tahap II"  # the PKH rows followed the new KK
    assert ANAK1 in [m["nik"] for m in moved["anggota"]]  # and so did the members
    versions = [i["version"] for i in items]
    assert versions == sorted(versions)
    body = client.get(CHANGES, params={"limit": 1}).json()
    assert body["observed_seq"] == max(versions) + 1  # the KIP change took the last number


def test_a_member_moving_puts_the_losing_family_first(client: TestClient, admin: TestClient, world: World) -> None:
    cursor = _feed_with_cursor(client)
    moved = {**world.member(ANAK3), "no_kk": KK1, "hubungan_keluarga": "CUCU"}
    response = admin.put("/api/v1/admin/anggota", json=moved)
    assert response.status_code == 200 and ANAK3 in [m["nik"] for m in response.json()["anggota"]]
    items, _, _ = read_feed(client, cursor)
    assert [(i["kind"], i["no_kk"]) for i in items] == [("keluarga", KK2), ("keluarga", KK1)]
    assert [m["nik"] for m in items[0]["anggota"]] == [IBU2]
    assert next(m for m in items[1]["anggota"] if m["nik"] == ANAK3)["hubungan_keluarga"] == "CUCU"
    assert items[0]["version"] < items[1]["version"]


def test_a_member_leaving_and_a_family_leaving(client: TestClient, admin: TestClient) -> None:
    cursor = _feed_with_cursor(client)
    assert admin.request("DELETE", "/api/v1/admin/anggota", json={"nik": ANAK3}).status_code == 200
    gone = admin.request("DELETE", "/api/v1/admin/keluarga", json={"no_kk": KK4})
    assert gone.status_code == 200 and gone.json()["kind"] == "keluarga_dihapus"
    items, _, _ = read_feed(client, cursor)
    assert [(i["kind"], i["no_kk"]) for i in items] == [("keluarga", KK2), ("keluarga_dihapus", KK4)]
    assert [m["nik"] for m in items[0]["anggota"]] == [IBU2]
    assert items[1] == gone.json()
    assert client.post("/api/v1/keluarga/search", json={"no_kk": KK4}).status_code == 404
    assert admin.request("DELETE", "/api/v1/admin/keluarga", json={"no_kk": KK4}).status_code == 404
    assert admin.request("DELETE", "/api/v1/admin/anggota", json={"nik": ANAK3}).status_code == 404


def test_nothing_changed_means_an_empty_page_and_the_same_cursor(client: TestClient) -> None:
    cursor = _feed_with_cursor(client)
    body = client.get(CHANGES, params={"cursor": cursor}).json()
    assert body["items"] == [] and body["has_more"] is False and body["next_cursor"] == cursor


@pytest.mark.parametrize(("params", "field", "rule"), [
    ({"limit": 0}, "limit", "greater_than_equal"),
    ({"limit": 1001}, "limit", "less_than_equal"),
    ({"limit": "many"}, "limit", "int_parsing"),
    ({"since": 5}, "since", "extra_forbidden"),
    ({"cursor": "%%%"}, "cursor", "opaque_cursor"),
    ({"cursor": Cursor(datetime(2026, 1, 1, tzinfo=UTC), "x1").encode()}, "cursor", "opaque_cursor"),
])
def test_bad_query_is_422(client: TestClient, params: dict, field: str, rule: str) -> None:
    response = client.get(CHANGES, params=params)
    assert response.status_code == 422
    assert {"field": field, "rule": rule} in [{"field": e["field"], "rule": e["rule"]}
                                              for e in response.json()["errors"]]


# ---- storage: both databases -------------------------------------------------------------------


@pytest.fixture
def engine(db_url: str, world_dir: Path) -> Iterator[Engine]:
    migrate(MIGRATIONS, db_url)
    engine = make_engine(db_url)
    load_world(engine, world_dir)
    yield engine
    engine.dispose()


def feed(engine: Engine, cursor: str | None, limit: int) -> ChangePage:
    with session_scope(engine) as s:
        return changes.list_changes(s, ChangesQuery(limit=limit, cursor=cursor))


def test_feed_on_both_databases_with_ties_and_changes(engine: Engine, world: World) -> None:
    first = feed(engine, None, 4)
    with session_scope(engine) as s:  # changes after the first page: a seen and an unseen record
        seen_kk = next(i.no_kk for i in first.items if i.kind == "keluarga")
        registry.update_keluarga(s, seen_kk, KeluargaUpdate(desil=10))
        registry.put_pkh(s, PkhRecord(no_kk=KK3, status="AKTIF", komponen=["SMA"], tahun=2026, tahap=3))
        kip.put_kip(s, KipRecord.model_validate({**world.kip[0], "nama": "BARU"}))
    seen = [(i.kind, i.version) for i in first.items]
    page = first
    while page.has_more:
        page = feed(engine, page.next_cursor, 4)
        seen += [(i.kind, i.version) for i in page.items]
    total = len(world.keluarga) + len(world.pkh)
    assert len(seen) == total + 2  # every record once, the changed seen one twice, the new PKH row once
    assert len(set(seen)) == len(seen)
    assert [v for _, v in seen[-2:]] == [world.versioned_rows + 1, world.versioned_rows + 2]
    assert page.observed_seq == world.versioned_rows + 3


def test_versions_beyond_any_stored_match_nothing_on_both_databases(engine: Engine) -> None:
    """The version columns began as INTEGER: a larger version given by a caller (a range bound up to 2^62, a cursor
    of 18 digits) matches nothing; it is not an error of the database (a 500)."""
    huge, beyond = 2**62, Cursor(datetime(2026, 1, 1, tzinfo=UTC), "9" * 18).encode()
    with session_scope(engine) as s:
        seq = changes.list_changes(s, ChangesQuery(limit=5)).observed_seq
        for query in (ChangesQuery(limit=5, since_version=huge), ChangesQuery(limit=5, since_version=huge,
                                                                             until_version=huge)):
            assert changes.list_changes(s, query).items == []
        assert len(changes.list_changes(s, ChangesQuery(limit=5, until_version=huge)).items) == 5
        assert kip.list_kip(s, KipQuery(since_version=huge, until_version=huge)).items == []
        assert kip.list_kip(s, KipQuery(cursor=beyond)).items == []
        end = kip.list_kip(s, KipQuery(limit=1, since_version=huge, until_version=huge))
        assert Cursor.decode(end.resume_cursor or "").key == str(seq)  # after the registry's sequence


def test_versions_past_integer_are_stored_and_read_on_both_databases(engine: Engine, world: World) -> None:
    """A registry whose changes passed 2^31 (a national one's would): a family, a PKH membership and a KIP card
    changed then keep their versions, and the feed and the listing give them back by version and in order."""
    from sqlalchemy import update

    from services.kemensos_mock.registry.models import RegistrySequence

    start = 2**31 + 10
    with session_scope(engine) as s:
        s.execute(update(RegistrySequence.__table__).values(value=start))
        registry.update_keluarga(s, KK1, KeluargaUpdate(desil=9))
        registry.put_pkh(s, PkhRecord(no_kk=KK3, status="AKTIF", komponen=["SMA"], tahun=2026, tahap=3))
        kip.put_kip(s, KipRecord.model_validate({**world.kip[0], "nama": "BARU"}))
    with session_scope(engine) as s:
        page = changes.list_changes(s, ChangesQuery(limit=10, since_version=2**31))
        cards = kip.list_kip(s, KipQuery(since_version=2**31, until_version=2**62))
    assert [(i.kind, i.version) for i in page.items] == [("keluarga", start + 1), ("pkh", start + 2)]
    assert page.observed_seq == start + 3
    assert [(c.no_kip, c.version) for c in cards.items] == [(world.kip[0]["no_kip"], start + 3)]


def test_a_load_adding_members_to_a_stored_family_puts_it_in_the_feed_again(engine: Engine, world: World,
                                                                           tmp_path: Path) -> None:
    cursor = feed(engine, None, 1000).next_cursor
    baby = {**world.member(ANAK1), "nik": "3201014101260099", "nama": "BAYI", "tanggal_lahir": "2026-01-01"}
    load_world(engine, World(anggota_keluarga=[baby]).write(tmp_path / "more"))
    page = feed(engine, cursor, 1000)
    assert [(i.kind, i.no_kk) for i in page.items] == [("keluarga", KK1)]
    assert "3201014101260099" in [m.nik for m in page.items[0].anggota]  # type: ignore[union-attr]


def test_a_replacing_load_leaves_a_tombstone_for_every_family_first(engine: Engine, world: World,
                                                                    world_dir: Path) -> None:
    replica = Replica()
    replica.apply(feed(engine, None, 1000))
    before = dict(replica.families)
    load_world(engine, world_dir, replace=True)
    page = feed(engine, replica.cursor, 1000)
    kinds = [i.kind.value for i in page.items]
    assert kinds[:4] == ["keluarga_dihapus"] * 4 and kinds.count("keluarga") == 4
    replica.apply(page)
    assert replica.families == before  # dropped, then loaded again: the same registry


# ---- concurrent writers while a reader pages, every timestamp equal -----------------------------

FROZEN = datetime(2000, 1, 1, tzinfo=UTC)  # earlier than the load: every change takes the load's timestamp


def _write(engine: Engine, action: object) -> None:
    with Session(engine, expire_on_commit=False) as s:
        s.connection(execution_options={SQLITE_IMMEDIATE: True})
        action(s)  # type: ignore[operator]
        s.commit()


def _edits(engine: Engine, world: World, seed: int, count: int, errors: list[BaseException]) -> None:
    """``count`` random registry edits, each its own transaction. Two writers race: an edit of a family
    the other writer just renumbered is a 404 (or 409), and is skipped."""
    rng = random.Random(seed)
    niks = [m["nik"] for m in world.anggota_keluarga]
    for _ in range(count):
        kk = rng.choice((KK1, KK2, KK3, KK4, NEW_KK))
        op = rng.randrange(4)
        try:
            if op == 0:
                change = KeluargaUpdate(desil=rng.randint(1, 10))
                _write(engine, lambda s, kk=kk, c=change: registry.update_keluarga(s, kk, c))
            elif op == 1:
                record = PkhRecord(no_kk=kk, status=rng.choice(["AKTIF", "TIDAK_AKTIF"]), komponen=[],
                                   tahun=2026, tahap=rng.randint(1, 4))
                _write(engine, lambda s, r=record: registry.put_pkh(s, r))
            elif op == 2:
                member = AnggotaKeluargaRecord.model_validate({**world.member(rng.choice(niks)), "no_kk": kk})
                _write(engine, lambda s, m=member: registry.put_anggota(s, m))
            else:  # KK1 takes a new number (once; KK numbers are never reused)
                _write(engine, lambda s: registry.update_keluarga(s, KK1, KeluargaUpdate(no_kk=NEW_KK)))
        except (NotFound, Conflict):
            continue
        except BaseException as exc:
            errors.append(exc)
            return


def test_concurrent_edits_while_paging_with_equal_timestamps_lose_nothing(
    engine: Engine, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry_repo, "utcnow", lambda: FROZEN)
    errors: list[BaseException] = []
    writers = [threading.Thread(target=_edits, args=(engine, world, seed, 30, errors)) for seed in (1, 2)]
    replica = Replica()
    replica.apply(feed(engine, None, 2))  # the reader is already paging when the writers start
    for w in writers:
        w.start()
    pages = 1
    while True:
        writing = any(w.is_alive() for w in writers)
        page = feed(engine, replica.cursor, 2)
        replica.apply(page)
        pages += 1
        if not writing and not page.has_more:
            break
        assert pages < 10_000
    for w in writers:
        w.join()
    assert errors == []
    fresh = Replica()
    while True:
        page = feed(engine, fresh.cursor, 1000)
        fresh.apply(page)
        if not page.has_more:
            break
    assert len({i.updated_at for i in page.items} | {FROZEN}) <= 2  # all changes share the load's timestamp
    current = {(kind, version) for kind, version in fresh.seen}
    assert current <= replica.seen  # every record's current version reached the reader: nothing skipped
    assert replica.families == fresh.families  # and the replica converged to the registry
    assert all(len(kks) == 1 for kks in replica.nik_owners().values())
    with session_scope(engine) as s:
        for no_kk, state in fresh.families.items():
            detail = registry.get_keluarga(s, no_kk)
            assert sorted(state["anggota"]) == sorted(m.nik for m in detail.anggota)


@pytest.mark.parametrize(("where", "bad"), [("anggota.jenis_kelamin", "X"), ("anggota.tanggal_lahir", "kemarin"),
                                            ("keluarga.version", "v1")])
def test_the_hubs_client_still_rejects_a_family_off_contract(client: TestClient, where: str, bad: str) -> None:
    """The page is served from plain data, without a model per family; the reader's client still validates every
    item (``ChangePage``): a page the registry serves parses, the same page with one value off contract is a
    ``ContractError``."""
    import json

    import httpx

    from shared.clients import KemensosClient
    from shared.http import ContractError, RetryPolicy

    body = client.get(CHANGES, params={"limit": 5}).json()
    bad_body = json.loads(json.dumps(body))
    family = next(i for i in bad_body["items"] if i["kind"] == "keluarga" and i["anggota"])
    part, name = where.split(".")
    (family["anggota"][0] if part == "anggota" else family["keluarga"])[name] = bad

    def reader(answer: dict) -> KemensosClient:
        transport = httpx.MockTransport(lambda request: httpx.Response(200, json=answer))
        return KemensosClient("http://kemensos.test", "t" * 20, transport=transport, retry=RetryPolicy(attempts=1))

    assert len(reader(body).list_changes(None, 5).items) == len(body["items"])
    with pytest.raises(ContractError):
        reader(bad_body).list_changes(None, 5)
