"""A full read of a gateway's feed as ranges of student ids (``sync.feed_ranges``, PostgreSQL): a first sync whose
plan reads both feeds as ranges, each a job on the hub's queue, ends with the same copy, outcomes and values as one
read in one stream; the next run reads on from where the feeds ended when the ranges started; and the gateways'
id ranges split a feed into parts that hold every record once.

The four apps in process (the hub with its in-process worker taking the range jobs), on real databases.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
from contextlib import ExitStack
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session

with warnings.catch_warnings():
    warnings.simplefilter("ignore")

from jembatan.stack import Stack
from services.sync_hub.runs import repository as runs_repo
from services.sync_hub.sync import feed_ranges
from shared.contracts.hub import RunStatus
from shared.db import make_engine
from shared.http import Unavailable
from shared.testing import fresh_postgres_database
from tests.inprocess import four_apps
from worldgen.config import WorldConfig
from worldgen.generate import generate_world

pytestmark = pytest.mark.postgres
BASE = "http://testserver"


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Stack:
    root = tmp_path_factory.mktemp("feedranges")
    generate_world(WorldConfig(seed=8, n_families=150), root / "world")
    stack = Stack(root)
    stack.load_world(root / "world")
    return stack


COPY = ("SELECT system, student_id, region, school, bentuk, npsn, aktif, held_back FROM student_mirror "
        "ORDER BY system, student_id")
OUTCOMES = "SELECT system, student_id, outcome FROM student_status ORDER BY system, student_id"
KIP = "SELECT no_kip, version, nik, kode_wilayah FROM replica_kip ORDER BY no_kip"


def _rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text(sql))]
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def baseline(loaded: Stack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A first sync of the world with both feeds read in one stream: its run, copy and outcomes."""
    with fresh_postgres_database() as url, \
            four_apps(loaded, tmp_path_factory.mktemp("one"), url, feed_read_ranges=1) as (hub, _, _, _):
        run = hub.wait(hub.start_run().id, timeout=300, poll=0.05)
        assert run.status is RunStatus.SUCCEEDED, run.errors
        return {"run": run, "copy": _rows(url, COPY), "outcomes": _rows(url, OUTCOMES), "kip": _rows(url, KIP)}


# Dapodik's records the hub has not read since they last changed, by its read positions (its sync screen's count)
WAITING = ("SELECT count(*) FROM peserta_didik p LEFT JOIN sync_position s ON s.sekolah_id = p.sekolah_id "
           "WHERE NOT p.soft_delete AND p.status_validasi IS NOT NULL AND (s.sekolah_id IS NULL "
           "OR p.change_seq > s.change_seq "
           "OR (p.change_seq = s.change_seq AND p.peserta_didik_id > s.peserta_didik_id))")


def _same_as(baseline: dict[str, Any], url: str, run: Any) -> None:
    assert run.status is RunStatus.SUCCEEDED, run.errors
    assert run.students_read == baseline["run"].students_read and run.outcomes == baseline["run"].outcomes
    assert _rows(url, COPY) == baseline["copy"] and baseline["copy"]
    assert _rows(url, OUTCOMES) == baseline["outcomes"]
    assert _rows(url, KIP) == baseline["kip"] and baseline["kip"]


def test_a_first_sync_reading_its_feeds_as_ranges_ends_as_one_stream_does(
        loaded: Stack, baseline: dict[str, Any], tmp_path: Path) -> None:
    with fresh_postgres_database() as url, \
            four_apps(loaded, tmp_path, url, feed_read_range_records=5, replica_load_range_versions=50
                      ) as (hub, _, stack, _):
        run = hub.wait(hub.start_run().id, timeout=300, poll=0.05)
        _same_as(baseline, url, run)
        # the ranges' pages moved no school's read position; the hub's word that it holds them all did
        assert _rows(stack.database_url("dapodik_gateway"), WAITING) == [(0,)]
        reads = _rows(url, "SELECT system, ranges, finished_at IS NOT NULL FROM feed_read ORDER BY system")
        assert [(s, done) for s, _, done in reads] == [("dapodik", True), ("emis", True), ("kip", True)]
        assert all(n > 1 for _, n, _ in reads)
        left = _rows(url, "SELECT count(*) FROM feed_read_range r JOIN feed_read f ON f.id = r.read_id "
                          "WHERE r.done_at IS NULL OR (r.records = 0 AND f.system <> 'kip')")
        assert left == [(0,)]  # every range read, no feed's empty (the KIP cards hold few of the registry's versions)
        kip_read = _rows(url, "SELECT sum(r.records) FROM feed_read_range r JOIN feed_read f ON f.id = r.read_id "
                              "WHERE f.system = 'kip'")
        assert kip_read == [(len(baseline["kip"]),)]  # each card read once
        engine = make_engine(url)
        try:  # what the run's reading progress says of them (shown while the plan reads)
            with engine.connect() as conn, Session(conn) as session:
                assert runs_repo.read_ranges(session, run.id, None) == {s: (n, n) for s, n, _ in reads}
        finally:
            engine.dispose()

        # the next run reads on from where the feeds ended when the ranges started: nothing changed, nothing read
        again = hub.wait(hub.start_run().id, timeout=300, poll=0.05)
        assert again.status is RunStatus.SUCCEEDED and again.students_from_feed == 0
        # and the KIP listing from after the registry's sequence when its ranges started: no card read again
        assert _rows(url, f"SELECT records FROM run_reading WHERE sync_run_id = '{again.id}' AND source = 'kip'"
                     ) == [(0,)]
        assert _rows(url, "SELECT count(*) FROM feed_read") == [(3,)]  # an incremental read is one stream


def test_a_first_sync_in_ranges_with_every_service_on_postgresql(baseline: dict[str, Any], tmp_path: Path) -> None:
    """The same first sync with Kemensos and the gateways on PostgreSQL too: their range queries (ids, card numbers,
    versions beyond any stored), feed-end and feed-read on the database a ministry runs them on."""
    generate_world(WorldConfig(seed=8, n_families=150), tmp_path / "world")  # the ``loaded`` world
    with ExitStack() as dbs:
        urls = {s: dbs.enter_context(fresh_postgres_database())
                for s in ("kemensos_mock", "emis_gateway", "dapodik_gateway", "sync_hub")}
        hub_url = urls.pop("sync_hub")
        stack = Stack(tmp_path, database_urls=urls)
        stack.load_world(tmp_path / "world")
        with four_apps(stack, tmp_path, hub_url, feed_read_range_records=5, replica_load_range_versions=50
                       ) as (hub, _, _, _):
            run = hub.wait(hub.start_run().id, timeout=300, poll=0.05)
            _same_as(baseline, hub_url, run)
            reads = _rows(hub_url, "SELECT system, finished_at IS NOT NULL FROM feed_read ORDER BY system")
            assert reads == [("dapodik", True), ("emis", True), ("kip", True)]
            assert _rows(hub_url, "SELECT count(*) FROM replica_load WHERE finished_at IS NOT NULL") == [(1,)]
            assert _rows(urls["dapodik_gateway"], WAITING) == [(0,)]
            again = hub.wait(hub.start_run().id, timeout=300, poll=0.05)
            assert again.status is RunStatus.SUCCEEDED and again.students_from_feed == 0


def test_a_plan_that_fails_while_reading_ranges_goes_on_with_them_when_tried_again(
        loaded: Stack, baseline: dict[str, Any], tmp_path: Path) -> None:
    with fresh_postgres_database() as url, \
            four_apps(loaded, tmp_path, url, feed_read_range_records=5, job_retry_wait=0.1) as (hub, ups, _, _):
        real, failed = ups.dapodik.changes, []

        def changes(*a: Any, **kw: Any) -> Any:  # the plan's own read of a range: the gateway gone, once
            if kw.get("id_upto") and threading.current_thread().name.startswith("plan-read") and not failed:
                failed.append(kw["id_upto"])
                raise Unavailable("the gateway went away")
            return real(*a, **kw)

        ups.dapodik.changes = changes  # type: ignore[method-assign]
        run = hub.wait(hub.start_run().id, timeout=300, poll=0.05)
        assert failed, "the plan never read a range itself"
        _same_as(baseline, url, run)
        # the retry went on with the read its first attempt started, not a new one
        assert _rows(url, "SELECT system, count(*) FROM feed_read GROUP BY system ORDER BY system") == [
            ("dapodik", 1), ("emis", 1)]


def test_the_id_ranges_of_a_feed_hold_every_record_once(loaded: Stack, tmp_path: Path) -> None:
    with fresh_postgres_database() as url, four_apps(loaded, tmp_path, url) as (_, ups, _, _):
        for client in (ups.emis, ups.dapodik):
            whole = [_id(s) for p in _pages(client) for s in p.items]
            end = client.feed_end()
            assert end.records == len(whole) > 0
            edges = feed_ranges.bounds(5)
            parts = [_id(s) for lo, hi in pairwise(edges) for p in _pages(client, lo, hi) for s in p.items]
            assert parts == sorted(whole) and len(set(parts)) == len(whole)  # in id order, range after range


def _id(record: Any) -> str:
    return getattr(record, "siswa_id", None) or record.peserta_didik_id


def _pages(client: Any, id_after: str | None = None, id_upto: str | None = None) -> Iterator[Any]:
    cursor = None
    while True:
        page = client.changes(limit=7, cursor=cursor, id_after=id_after, id_upto=id_upto)
        yield page
        if not page.next_cursor:
            return
        cursor = page.next_cursor


def test_bounds_are_increasing_and_open_at_both_ends() -> None:
    for n in (2, 3, 16, 100):
        edges = feed_ranges.bounds(n)
        assert edges[0] is None and edges[-1] is None and len(edges) == n + 1
        inner = edges[1:-1]
        assert inner == sorted(inner) and len(set(inner)) == len(inner)
