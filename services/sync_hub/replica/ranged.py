"""A first load of the registry replica read as ranges of the change feed at once, each range a job any worker
can take (PostgreSQL).

Why: before a first sync can decide anyone, the replica must hold the registry. Read in one stream (the follower
from sequence 0) that is ≈5.2 h for DTSEN's ~289 M people at the rate measured in session 16, on any number of
machines (docs/scale.md). Read as ranges, it goes as fast as the workers, Kemensos and the hub's database allow.

How:

* **Start.** When the replica is empty (no cursor, nothing read) and the registry holds at least two ranges'
  worth of versions (``LoadPlan.min_versions`` each), the first party to find it so (the API process's follower,
  or a run's plan) records a load (``replica_load``): the versions up to the registry's current sequence
  (``head``) split into up to ``LoadPlan.ranges`` ranges (``replica_load_range``), and defers a job per range in
  the same transaction (``hub:load_registry_range``).
* **A range** is read from its stored cursor with ``since_version`` / ``until_version``; each page is applied
  (``service.apply_page(ranged=True)``) in one transaction with the range's cursor, so a range goes on after a
  crash from its last page. Whoever reads a range holds a PostgreSQL advisory lock on it, so no two read the same
  range. A range's job, a run's plan (which works the ranges nobody holds, then waits for the others: a plan cannot
  decide before the replica is whole) and the API's follower (which works what nobody holds, without waiting) all
  read ranges; a job that gives up leaves its range to the next of them.
* **Finish.** Whoever reads the last range applies the parked PKH items (below), builds the members' matching
  indexes and sets the replica to follow the feed from ``head`` on (``replica_state.floor_version``). Until then the
  follower does not read the feed.
* **Indexes.** The start drops ``replica_anggota``'s matching and sample indexes (``models.MATCHING_INDEXES``), and the
  finish builds them, sorted, in one pass each: kept up page by page, eight B-trees took a random insert per member
  (at 289 M people, indexes far larger than memory). A page needs only the primary key and ``no_kk``'s index, which
  stay. A reset of the replica during a load builds them again (on empty tables).

Why the ranges may be applied in any order: the feed holds each family, PKH membership and tombstone once, at its
latest version (any change moves it to the feed's end with a new version). So what a range finds up to ``head`` is
the registry as it stood at ``head``, less what changed since, and what changed since is above ``head``, read by
the follower afterwards. In that state a NIK is in one family and a former KK number belongs to one family and to
no family as its number (KK numbers are never reused): the families' items commute. Only a PKH item can meet the
replica without its family (read in one stream the family, with the lower version, would have come first, or the
item would have found no family): such an item is parked and applied at the finish if the family then held is older
than it. Tested against a load in one stream: ``tests/test_replica_ranged.py``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy import Engine, text
from sqlmodel import Session

from services.sync_hub.config import Settings
from services.sync_hub.replica import repository as repo
from services.sync_hub.replica import service
from services.sync_hub.replica.models import (
    ReplicaLoadRangeRow,
    ReplicaLoadRow,
    ReplicaPkhParkedRow,
    ReplicaStateRow,
)
from shared import bulk, names
from shared.clients import KemensosClient
from shared.clock import utcnow
from shared.contracts.kemensos import ChangePage, PkhChange
from shared.db import advisory_lock, session_scope
from shared.http import Unavailable
from shared.readahead import read_ahead

log = logging.getLogger("jembatan.hub.replica.ranged")

LOCK_BASE = 0x4A424C << 40  # "JBL": the advisory lock of range ``idx`` of load ``id`` is LOCK_BASE + id * 4096 + idx
PAGE_SIZE = 1000


@dataclass(frozen=True)
class LoadPlan:
    """How a first load is split: into up to ``ranges`` ranges of at least ``min_versions`` registry versions each
    (fewer than two: read in one stream, as before). ``defer(session, load_id, indexes)`` enqueues the ranges' jobs
    in ``session``'s transaction (None: no jobs; the plan and the follower read every range themselves)."""

    ranges: int = 1
    min_versions: int = 50_000
    defer: Callable[[Session, int, list[int]], None] | None = None


def load_plan(settings: Settings, defer: Callable[[Session, int, list[int]], None] | None) -> LoadPlan:
    return LoadPlan(settings.replica_load_ranges, settings.replica_load_range_versions, defer)


def _key(load_id: int, idx: int) -> int:
    return LOCK_BASE + load_id * 4096 + idx


def _range_lock(engine: Engine, load_id: int, idx: int, *, wait: bool) -> AbstractContextManager[bool]:
    """Whether this process may read the range now (held for the block); ``wait``: until its holder lets it go."""
    return advisory_lock(engine, _key(load_id, idx), wait=wait)


def _unfinished(session: Session) -> ReplicaLoadRow | None:
    stmt = sa.select(ReplicaLoadRow).where(ReplicaLoadRow.finished_at.is_(None)).order_by(ReplicaLoadRow.id)  # type: ignore[union-attr]
    return session.scalars(stmt).first()


def _empty(session: Session) -> bool:
    """The replica has read nothing yet (or is to be read again: its names were normalised under other rules).
    Reads the state without making it: the follower's or a plan's refresh makes it, under their own locks."""
    st = session.get(ReplicaStateRow, 1)
    if st is None:
        return True
    if st.names_version != names.VERSION:
        return True
    return st.cursor is None and st.floor_version is None and st.observed_seq == 0


def start(engine: Engine, client: KemensosClient, plan: LoadPlan) -> int | None:
    """The unfinished ranged load's id; else, when the replica is empty and the registry large enough, a new load
    recorded with its ranges (and their jobs deferred); else None: the feed is read in one stream."""
    if plan.ranges < 2 or engine.dialect.name != "postgresql":
        return None
    with session_scope(engine) as session:
        if (load := _unfinished(session)) is not None:
            return load.id
        if not _empty(session):
            return None
    head = client.list_changes(None, 1).observed_seq  # any page says the registry's sequence
    count = min(plan.ranges, head // max(plan.min_versions, 1))
    if count < 2:
        return None
    with session_scope(engine) as session:
        # the members' table first: its indexes are dropped below, and a refresh's page takes it before the state row
        session.execute(text("LOCK TABLE replica_anggota IN ACCESS EXCLUSIVE MODE"))
        # one starter at a time (the follower and a plan may both find the replica empty)
        session.execute(text("INSERT INTO replica_state (id, observed_seq) VALUES (1, 0) ON CONFLICT DO NOTHING"))
        session.execute(text("SELECT id FROM replica_state WHERE id = 1 FOR UPDATE"))
        if (load := _unfinished(session)) is not None:
            return load.id
        if not _empty(session):
            return None
        if repo.state(session).names_version != names.VERSION:
            repo.reset(session, names.VERSION)
        load = ReplicaLoadRow(head=head, ranges=count, started_at=utcnow())
        session.add(load)
        session.flush()
        assert load.id is not None
        repo.drop_matching_indexes(session)  # built once at the end, not kept up page by page
        bounds = [head * i // count for i in range(count + 1)]
        session.add_all([ReplicaLoadRangeRow(load_id=load.id, idx=i, lo=bounds[i], hi=bounds[i + 1])
                         for i in range(count)])
        session.flush()
        if plan.defer is not None:
            plan.defer(session, load.id, list(range(count)))
        load_id = load.id
    log.info("replica: first load of registry sequence %d read as %d ranges (load %d)", head, count, load_id)
    return load_id


def pending(engine: Engine, load_id: int) -> list[int]:
    """The ranges of the load not read to their end yet."""
    with session_scope(engine) as session:
        stmt = (sa.select(ReplicaLoadRangeRow.idx)
                .where(ReplicaLoadRangeRow.load_id == load_id, ReplicaLoadRangeRow.done_at.is_(None))  # type: ignore[union-attr]
                .order_by(ReplicaLoadRangeRow.idx))
        return list(session.scalars(stmt))


def _park(session: Session, load_id: int, items: list[PkhChange]) -> None:
    if not items:
        return
    table = ReplicaPkhParkedRow.__table__  # type: ignore[attr-defined]
    versions = sorted({c.version for c in items})
    session.execute(table.delete().where(table.c.load_id == load_id, table.c.version.in_(versions)))
    rows = {c.version: c for c in items}  # a page delivered again parks its items once
    bulk.insert(session, table, [{"load_id": load_id, "version": v, "no_kk": c.no_kk,
                                  "payload": c.model_dump_json()} for v, c in sorted(rows.items())])


FOREIGN_PAGES_MAX = 20  # another reader's pages in a row before a range's read gives up (and is tried again)


def _range_pages(client: KemensosClient, cursor: str | None, lo: int, hi: int, page_size: int
                 ) -> Iterator[ChangePage]:
    """The range's pages from ``cursor`` to its end. A page that is not an answer to this range's request is asked
    for again: a feed that re-delivers a client's previous page may hand one reader another's (the hub reads
    several ranges as one client). Such a page holds a change outside (``lo``, ``hi``], or, empty, points elsewhere
    than where this reader asked from; taken, it could move the range's cursor past changes it never read."""
    foreign = 0
    while True:
        page = client.list_changes(cursor, page_size, since_version=lo, until_version=hi)
        if any(not lo < c.version <= hi for c in page.items) or (not page.items and page.next_cursor != cursor):
            foreign += 1
            if foreign > FOREIGN_PAGES_MAX:
                raise Unavailable(f"the change feed answered {foreign} requests of range ({lo}, {hi}] with "
                                  "another request's page")
            continue
        foreign = 0
        yield page
        if not page.has_more:
            return
        cursor = page.next_cursor


def work_range(engine: Engine, client: KemensosClient, load_id: int, idx: int,
               on_page: Callable[[Session, int], None] | None = None, *, wait: bool = False,
               page_size: int = PAGE_SIZE) -> bool:
    """Read range ``idx`` of the load from its stored cursor to its end, unless another holds it (``wait``: until
    it lets go, then go on from where it stopped). True when the range is read, by this call or another."""
    with _range_lock(engine, load_id, idx, wait=wait) as mine:
        if not mine:
            return False
        with session_scope(engine) as session:
            row = session.get(ReplicaLoadRangeRow, (load_id, idx))
            if row is None or row.done_at is not None:  # read already (or the load was forgotten by a reset)
                return True
            cursor, lo, hi = row.cursor, row.lo, row.hi
        pages = _range_pages(client, cursor, lo, hi, page_size)
        for page, normal in read_ahead(pages, service.page_names):
            with session_scope(engine) as session:
                # the load's row, held while the page is applied: a reset of the replica waits for the page, and a
                # page after a reset finds the load gone (``repository.reset``)
                if session.execute(sa.select(ReplicaLoadRow.id).where(ReplicaLoadRow.id == load_id)
                                   .with_for_update(read=True)).first() is None:
                    return True
                applied, state = service.apply_page(session, page, normal, ranged=True)
                _park(session, load_id, state.parked)
                repo.touch(session, state.rewritten | state.replaced, page.observed_seq)
                session.execute(sa.update(ReplicaLoadRangeRow)
                                .where(ReplicaLoadRangeRow.load_id == load_id, ReplicaLoadRangeRow.idx == idx)
                                .values(cursor=page.next_cursor, changes=ReplicaLoadRangeRow.changes + applied))
                if on_page is not None:
                    on_page(session, applied)
        with session_scope(engine) as session:
            session.execute(sa.update(ReplicaLoadRangeRow)
                            .where(ReplicaLoadRangeRow.load_id == load_id, ReplicaLoadRangeRow.idx == idx)
                            .values(done_at=utcnow()))
    return True


def finish(engine: Engine, load_id: int) -> bool:
    """Once every range is read: the parked PKH items applied in version order, the load closed and the replica
    set to follow the feed after the load's head. True when the load is finished (now or before)."""
    with session_scope(engine) as session:
        load = session.get(ReplicaLoadRow, load_id, with_for_update=True)
        if load is None or load.finished_at is not None:
            return True
        if pending_in(session, load_id):
            return False
        table = ReplicaPkhParkedRow.__table__  # type: ignore[attr-defined]
        parked = [PkhChange.model_validate_json(p) for p in session.scalars(
            sa.select(table.c.payload).where(table.c.load_id == load_id).order_by(table.c.version))]
        if parked:
            keys = {c.no_kk for c in parked}
            page = service.PageReplay(repo.family_states(session, keys), keys, ranged=True)
            applied = sum(page.pkh(c) for c in parked)  # a family still not held: the item finds none, as in one stream
            page.write(session, {})
            repo.touch(session, page.rewritten, load.head)
            session.execute(table.delete().where(table.c.load_id == load_id))
            log.info("replica: %d of %d parked PKH item(s) applied at the load's end", applied, len(parked))
        t = time.perf_counter()
        built = repo.build_matching_indexes(session)
        log.info("replica: %d matching index(es) built at the load's end in %.1f s", len(built),
                 time.perf_counter() - t)
        st = repo.state(session)
        st.cursor, st.floor_version = None, load.head
        st.observed_seq, st.synced_at = max(st.observed_seq, load.head), utcnow()
        load.finished_at = utcnow()
    log.info("replica: ranged first load %d finished at registry sequence %d", load_id, load.head)
    return True


def pending_in(session: Session, load_id: int) -> bool:
    stmt = (sa.select(ReplicaLoadRangeRow.idx)
            .where(ReplicaLoadRangeRow.load_id == load_id, ReplicaLoadRangeRow.done_at.is_(None)).limit(1))  # type: ignore[union-attr]
    return session.execute(stmt).first() is not None


def settle(engine: Engine, client: KemensosClient, plan: LoadPlan,
           on_page: Callable[[Session, int], None] | None = None, *, wait: bool) -> bool:
    """Start a ranged first load if one is due, read the ranges nobody holds and, with ``wait``, wait for the others
    (reading any whose holder stopped); finish the load once all are read. True when no ranged load is left
    unfinished: the feed may be followed."""
    load_id = start(engine, client, plan)
    if load_id is None:
        return True
    for idx in pending(engine, load_id):
        work_range(engine, client, load_id, idx, on_page)
    while wait and (left := pending(engine, load_id)):
        for idx in left:
            work_range(engine, client, load_id, idx, on_page, wait=True)
    return finish(engine, load_id)
