"""A first load of the registry replica read as ranges of the change feed (``replica.ranged``) ends with the same
replica as a load in one stream, whatever order the ranges are read in, stopped and resumed, with the registry
changing while they are read; and the follower goes on from where the ranges stopped.

The registry is the Kemensos mock in process, with a world and a history made through its admin API: KK numbers
replaced, members moving between families, families removed, PKH memberships of a newer period set after the
family's last change (so a range can meet the PKH item before its family) and before it.
"""

from __future__ import annotations

import random
import shutil
import warnings
from collections.abc import Iterator
from contextlib import ExitStack
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from jembatan.stack import Stack
from services.kemensos_mock.config import Settings as KemensosSettings
from services.kemensos_mock.main import create_app as kemensos_app
from services.sync_hub.main import MIGRATIONS
from services.sync_hub.replica import ranged
from services.sync_hub.replica import repository as repo
from services.sync_hub.replica import service as replica
from services.sync_hub.replica.follower import ReplicaFollower
from services.sync_hub.replica.models import (
    MATCHING_INDEXES,
    ReplicaLoadRangeRow,
    ReplicaLoadRow,
    ReplicaPkhParkedRow,
)
from shared.clients import KemensosClient
from shared.db import make_engine, migrate, session_scope
from shared.http import Rejected
from shared.testing import fresh_postgres_database
from worldgen.config import WorldConfig
from worldgen.generate import generate_world

BASE = "http://testserver"
TABLES = {  # every column the replica's readers use; the order makes the comparison exact
    "replica_keluarga": "no_kk, kode_wilayah, no_kks, version, pkh_status, pkh_periode, pkh_tahun, pkh_tahap",
    "replica_anggota": "nik, no_kk, nama, jenis_kelamin, tanggal_lahir, nama_ibu_kandung, hubungan_keluarga, "
                       "nama_norm, ibu_norm, kab, inisial, sample_key",
    "replica_kk_lama": "old_kk, no_kk",
}


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Stack:
    root = tmp_path_factory.mktemp("ranged")
    generate_world(WorldConfig(seed=11, n_families=120), root / "world")
    stack = Stack(root)
    stack.load_world(root / "world")
    return stack


class Registry:
    """The mock in process, its client, and admin edits that make the feed's history."""

    def __init__(self, http: TestClient, client: KemensosClient, admin: str) -> None:
        self.http, self.client = http, client
        self.headers = {"Authorization": f"Bearer {admin}"}
        self.rng = random.Random(3)
        self.fresh = 0

    def _call(self, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        r = self.http.request(method, f"/api/v1/admin/{path}", json=body, headers=self.headers)
        assert r.status_code == 200, r.text
        return r.json()

    def families(self) -> list[dict[str, Any]]:
        items = [i for p in self.client.iter_changes(limit=1000) for i in p.items]
        return [i.model_dump(mode="json") for i in items if i.kind.value == "keluarga"]

    def history(self, edits: int) -> None:
        """``edits`` random edits of the kinds that make a feed hard to read out of order."""
        for _ in range(edits):
            fams = self.families()
            fam = self.rng.choice(fams)
            kind = self.rng.choice(["kk", "move", "remove", "pkh", "pkh", "desil"])
            if kind == "kk":
                self.fresh += 1
                new = f"99{fam['no_kk'][2:12]}{self.fresh:04d}"
                self._call("PATCH", "keluarga", {"no_kk": fam["no_kk"], "change": {"no_kk": new}})
            elif kind == "move" and fam["anggota"]:
                other = self.rng.choice([f for f in fams if f["no_kk"] != fam["no_kk"]])
                a = dict(self.rng.choice(fam["anggota"]))
                self._call("PUT", "anggota", {**{k: a[k] for k in (
                    "nik", "nama", "jenis_kelamin", "tempat_lahir", "tanggal_lahir", "nama_ibu_kandung")},
                    "hubungan_keluarga": "FAMILI_LAIN", "no_kk": other["no_kk"]})
            elif kind == "remove":
                self._call("DELETE", "keluarga", {"no_kk": fam["no_kk"]})
            elif kind == "pkh":
                self._call("PUT", "pkh", {"no_kk": fam["no_kk"], "status": self.rng.choice(["AKTIF", "GRADUASI"]),
                                          "komponen": [], "tahun": 2027, "tahap": self.rng.randint(1, 4)})
            else:
                self._call("PATCH", "keluarga", {"no_kk": fam["no_kk"], "change": {"desil": self.rng.randint(1, 10)}})


@pytest.fixture
def registry(loaded: Stack, tmp_path: Path) -> Iterator[Registry]:
    shutil.copytree(loaded.workdir / "db", tmp_path / "db")
    stack = Stack(tmp_path, creds=loaded.creds)
    c = stack.creds
    app = kemensos_app(KemensosSettings(database_url=stack.database_url("kemensos_mock"),
                                        api_tokens={"sync_hub": c.hub_to_kemensos}, admin_token=c.kemensos_admin))
    with TestClient(app, base_url=BASE) as http:
        reg = Registry(http, KemensosClient(BASE, c.hub_to_kemensos, http=http), c.kemensos_admin)
        reg.history(60)
        yield reg


def _hub() -> Iterator[sa.Engine]:
    with fresh_postgres_database() as url:
        migrate(MIGRATIONS, url)
        engine = make_engine(url)
        try:
            yield engine
        finally:
            engine.dispose()


@pytest.fixture
def one_stream() -> Iterator[sa.Engine]:
    yield from _hub()


@pytest.fixture
def by_ranges() -> Iterator[sa.Engine]:
    yield from _hub()


def contents(engine: sa.Engine) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as conn:
        return {t: [tuple(r) for r in conn.execute(sa.text(f"SELECT {cols} FROM {t} ORDER BY 1"))]
                for t, cols in TABLES.items()}


def matching_indexes(engine: sa.Engine) -> set[str]:
    """Which of the members' matching indexes exist."""
    with engine.connect() as conn:
        there = {i["name"] for i in sa.inspect(conn).get_indexes("replica_anggota")}
    return there & {str(i.name) for i in MATCHING_INDEXES}


ALL_MATCHING = {str(i.name) for i in MATCHING_INDEXES}


def observed(engine: sa.Engine) -> int:
    with session_scope(engine) as session:
        return repo.state(session).observed_seq


PLAN = ranged.LoadPlan(ranges=5, min_versions=1)


class Stopping:
    """The registry's client, failing after ``pages`` pages (a worker killed in the middle of a range)."""

    def __init__(self, client: KemensosClient, pages: int) -> None:
        self.client, self.left = client, pages

    def list_changes(self, *a: Any, **kw: Any) -> Any:
        if kw.get("until_version") is not None:  # a range's page
            if self.left == 0:
                raise ConnectionError("killed")
            self.left -= 1
        return self.client.list_changes(*a, **kw)


@pytest.mark.postgres
def test_ranges_read_in_any_order_make_the_replica_one_stream_makes(
        registry: Registry, one_stream: sa.Engine, by_ranges: sa.Engine) -> None:
    replica.refresh(one_stream, registry.client)

    load_id = ranged.start(by_ranges, registry.client, PLAN)
    assert load_id is not None
    with session_scope(by_ranges) as session:
        load = session.get(ReplicaLoadRow, load_id)
        assert load is not None and load.ranges == 5 and load.head == observed(one_stream)
    assert ranged.start(by_ranges, registry.client, PLAN) == load_id  # one load at a time
    assert matching_indexes(by_ranges) == set()  # built at the end, not kept up page by page
    # the follower reads nothing while the ranges are being read
    assert replica.refresh(by_ranges, registry.client).pages == 0
    assert not ranged.finish(by_ranges, load_id)
    for idx in reversed(ranged.pending(by_ranges, load_id)):  # last range first: PKH items before their families
        assert ranged.work_range(by_ranges, registry.client, load_id, idx, page_size=7)
    with session_scope(by_ranges) as session:
        assert session.scalars(sa.select(ReplicaPkhParkedRow)).first() is not None  # the case is exercised
    assert ranged.finish(by_ranges, load_id)
    assert matching_indexes(by_ranges) == ALL_MATCHING == matching_indexes(one_stream)
    assert contents(by_ranges) == contents(one_stream)
    assert observed(by_ranges) == observed(one_stream)

    # then both follow the feed: by the ranges' end, and by the cursor
    registry.history(25)
    replica.refresh(one_stream, registry.client)
    assert replica.refresh(by_ranges, registry.client).changes > 0
    assert contents(by_ranges) == contents(one_stream)
    assert ranged.start(by_ranges, registry.client, PLAN) is None  # a loaded replica is not loaded again


@pytest.mark.postgres
def test_a_range_stopped_midway_goes_on_from_its_last_page_and_the_registry_may_change_meanwhile(
        registry: Registry, one_stream: sa.Engine, by_ranges: sa.Engine) -> None:
    load_id = ranged.start(by_ranges, registry.client, PLAN)
    assert load_id is not None
    first, *rest = ranged.pending(by_ranges, load_id)
    with pytest.raises(ConnectionError):
        ranged.work_range(by_ranges, Stopping(registry.client, 2), load_id, first, page_size=5)  # type: ignore[arg-type]
    with session_scope(by_ranges) as session:
        stopped = session.get(ReplicaLoadRangeRow, (load_id, first))
        assert stopped is not None and stopped.done_at is None and stopped.cursor is not None and stopped.changes > 0
    for idx in rest[:2]:
        ranged.work_range(by_ranges, registry.client, load_id, idx, page_size=5)
    registry.history(30)  # while the ranges are read: moves, new KK numbers, removals above the load's head
    assert not ranged.finish(by_ranges, load_id)
    # a follower's round reads what nobody holds and finishes the load, then follows the feed
    follower = ReplicaFollower(by_ranges, registry.client, 60, load=PLAN)
    follower.follow_once()
    assert ranged.pending(by_ranges, load_id) == []
    replica.refresh(by_ranges, registry.client)

    replica.refresh(one_stream, registry.client)  # one stream, after every change
    assert contents(by_ranges) == contents(one_stream)
    assert observed(by_ranges) == observed(one_stream)


@pytest.mark.postgres
def test_a_plan_reads_every_range_itself_when_no_worker_takes_them(
        registry: Registry, one_stream: sa.Engine, by_ranges: sa.Engine) -> None:
    deferred: list[tuple[int, list[int]]] = []
    plan = ranged.LoadPlan(ranges=3, min_versions=1, defer=lambda _s, load, idx: deferred.append((load, idx)))
    from services.sync_hub.replica import follower

    result = follower.refresh(by_ranges, registry.client, load=plan)  # as a plan's registry round
    assert len(deferred) == 1 and deferred[0][1] == [0, 1, 2]  # the jobs were asked for, with the load
    assert ranged.pending(by_ranges, deferred[0][0]) == []
    replica.refresh(one_stream, registry.client)
    assert contents(by_ranges) == contents(one_stream)
    assert result.observed_seq == observed(one_stream)


def test_a_small_registry_or_sqlite_is_read_in_one_stream(registry: Registry, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    migrate(MIGRATIONS, url)
    engine = make_engine(url)
    try:
        assert ranged.start(engine, registry.client, PLAN) is None  # SQLite: one writer at a time
    finally:
        engine.dispose()


class Failing:
    """The registry's client, failing after ``pages`` pages of the feed (the follower's process killed mid-load)."""

    def __init__(self, client: KemensosClient, pages: int) -> None:
        self.client, self.left = client, pages

    def iter_changes(self, *a: Any, **kw: Any) -> Iterator[Any]:
        for page in self.client.iter_changes(*a, **kw):
            if self.left == 0:
                raise ConnectionError("killed")
            self.left -= 1
            yield page


@pytest.mark.parametrize("db", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_first_load_in_one_stream_builds_the_matching_indexes_at_its_end_even_after_a_stop(
        registry: Registry, one_stream: sa.Engine, tmp_path: Path, db: str) -> None:
    replica.refresh(one_stream, registry.client)  # reference: one stream on PostgreSQL, uninterrupted
    assert matching_indexes(one_stream) == ALL_MATCHING
    with ExitStack() as stack:
        url = f"sqlite:///{tmp_path / 'hub.db'}" if db == "sqlite" else stack.enter_context(fresh_postgres_database())
        migrate(MIGRATIONS, url)
        engine = make_engine(url)
        stack.callback(engine.dispose)
        with pytest.raises(ConnectionError):
            replica.refresh(engine, Failing(registry.client, 2), page_size=7)  # type: ignore[arg-type]
        assert matching_indexes(engine) == set()  # dropped at the start, not built: the load did not end
        assert observed(engine) > 0
        replica.refresh(engine, registry.client)  # goes on from its cursor, and builds them at its end
        assert matching_indexes(engine) == ALL_MATCHING
        text = [{t: [tuple(map(str, r)) for r in rows] for t, rows in contents(e).items()}
                for e in (engine, one_stream)]
        assert text[0] == text[1]  # (as text: SQLite gives its dates as text)
        replica.refresh(engine, registry.client)  # a later round: nothing dropped, nothing built
        assert matching_indexes(engine) == ALL_MATCHING


@pytest.mark.postgres
def test_fewer_versions_than_two_ranges_hold_are_read_in_one_stream(registry: Registry, by_ranges: sa.Engine) -> None:
    head = registry.client.list_changes(None, 1).observed_seq
    assert ranged.start(by_ranges, registry.client, ranged.LoadPlan(ranges=8, min_versions=head // 2 + 1)) is None
    assert ranged.start(by_ranges, registry.client, ranged.LoadPlan(ranges=8, min_versions=head // 3)) is not None


@pytest.mark.postgres
def test_the_feed_read_by_version_ranges_is_the_whole_feed(registry: Registry) -> None:
    whole = [(i.kind.value, i.version) for p in registry.client.iter_changes(limit=1000) for i in p.items]
    head = max(v for _, v in whole)
    cuts = [0, head // 3, head // 2, head]
    parts = [(i.kind.value, i.version) for lo, hi in pairwise(cuts)
             for p in registry.client.iter_changes(limit=9, since_version=lo, until_version=hi) for i in p.items]
    assert sorted(parts) == sorted(whole) and len(parts) == len(whole)
    assert all(lo < v <= hi for lo, hi in pairwise(cuts)
               for p in registry.client.iter_changes(limit=9, since_version=lo, until_version=hi)
               for _, v in [(i.kind.value, i.version) for i in p.items])
    with pytest.raises(Rejected) as caught:
        registry.client.list_changes(None, 5, since_version=-1)
    assert caught.value.status == 422
    assert [(e.field, e.rule) for e in caught.value.errors] == [("since_version", "greater_than_equal")]


class Replaying:
    """The registry's client, answering the first ``foreign`` requests with a page of another request: one holding
    a change outside the range asked for, then an empty one pointing elsewhere (a feed re-delivering a page)."""

    def __init__(self, client: KemensosClient, other: Any) -> None:
        self.client, self.other, self.asked = client, list(other), []  # type: ignore[var-annotated]

    def list_changes(self, cursor: Any, limit: int, **kw: Any) -> Any:
        self.asked.append(cursor)
        if self.other:
            return self.other.pop(0)
        return self.client.list_changes(cursor, limit, **kw)


@pytest.mark.postgres
def test_a_page_of_another_range_is_not_taken_for_the_ranges_own(registry: Registry, one_stream: sa.Engine,
                                                                  by_ranges: sa.Engine) -> None:
    replica.refresh(one_stream, registry.client)
    load_id = ranged.start(by_ranges, registry.client, ranged.LoadPlan(ranges=2, min_versions=1))
    assert load_id is not None
    with session_scope(by_ranges) as session:
        first = session.get(ReplicaLoadRangeRow, (load_id, 0))
        assert first is not None
        hi = first.hi
    beyond = registry.client.list_changes(None, 3, since_version=hi)  # the second range's first page
    elsewhere = beyond.model_copy(update={"items": [], "has_more": False})  # empty, its cursor not ours
    client = Replaying(registry.client, [beyond, elsewhere])
    assert ranged.work_range(by_ranges, client, load_id, 0, page_size=6)  # type: ignore[arg-type]
    assert client.asked[:3] == [None, None, None]  # asked again from where the range stood
    ranged.work_range(by_ranges, registry.client, load_id, 1)
    assert ranged.finish(by_ranges, load_id)
    assert contents(by_ranges) == contents(one_stream)


def test_a_redelivered_page_is_the_previous_request_range_and_all() -> None:
    from services.kemensos_mock.changes.schemas import ChangesQuery
    from services.kemensos_mock.faults.schemas import FaultConfig
    from services.kemensos_mock.faults.service import FaultInjector, FeedFault

    faults = FaultInjector(FaultConfig(feed_redeliver_rate=1.0, seed=1))
    first, second = ChangesQuery(limit=5, since_version=0, until_version=10), ChangesQuery(limit=5, since_version=10)
    assert faults.feed("hub", first) == (FeedFault.NONE, first)
    assert faults.feed("hub", second) == (FeedFault.REDELIVER, first)


class Resetting:
    """The registry's client; the replica is reset (names normalised under new rules) while a range reads its
    second page."""

    def __init__(self, client: KemensosClient, engine: sa.Engine) -> None:
        self.client, self.engine, self.calls = client, engine, 0

    def list_changes(self, *a: Any, **kw: Any) -> Any:
        self.calls += 1
        if self.calls == 2:
            with session_scope(self.engine) as session:
                repo.reset(session, "other rules")
        return self.client.list_changes(*a, **kw)


@pytest.mark.postgres
def test_a_reset_while_a_range_is_read_leaves_no_row_of_the_forgotten_load(registry: Registry,
                                                                           by_ranges: sa.Engine) -> None:
    load_id = ranged.start(by_ranges, registry.client, PLAN)
    assert load_id is not None
    client = Resetting(registry.client, by_ranges)
    assert ranged.work_range(by_ranges, client, load_id, 0, page_size=5)  # type: ignore[arg-type]
    assert client.calls >= 2
    assert contents(by_ranges) == {t: [] for t in TABLES}  # the first page's rows went with the reset, no later one
    with session_scope(by_ranges) as session:
        assert session.scalars(sa.select(ReplicaLoadRow)).first() is None
    assert matching_indexes(by_ranges) == ALL_MATCHING  # the forgotten load's dropped indexes are back
