"""A full read of a gateway's feed (a first sync, a forced full run), or of the registry's KIP listing, read as ranges
at once, each range a job any worker can take (PostgreSQL).

Why: a first national sync's plan read the two feeds in one stream each: ≈2.4 h for ~53 M students at the rates
measured in session 16, on any number of machines (docs/scale.md). Read as ranges, they go as fast as the workers
and the gateways allow.

How (``planner._read_system``, for a full read):

* **Start.** When the feed holds at least two ranges' worth of students (``FeedPlan.min_records`` each; the
  gateway's ``GET /api/v1/hub/feed-end`` says how many, and where the feed ends now), the plan reads the school list
  into the hub's copy first (a range looks its students' schools up there), then records the read (``feed_read``:
  the feed's end position, up to ``FeedPlan.ranges`` ranges of ids in ``feed_read_range``) and defers a job per
  range in the same transaction (``hub:read_feed_range``). A retry of the plan finds the run's read and goes on with
  it.
* **A range** is read with ``id_after`` / ``id_upto`` from its stored cursor, in id order (the gateways walk their
  primary key over the range's ids: in change order each range would scan the whole feed's index); each page is
  stored in the hub's copy with the range's cursor in one transaction, so a range goes on after a crash from its last
  page. Whoever reads a range holds a PostgreSQL advisory lock on it: its job on any worker, or the plan, which reads
  the ranges nobody holds and then waits for the others (reading any whose holder stopped).
* **Finish.** When every range is read, the plan stores the feed's end position read at the start as the system's
  position, drops the students not read since the read started (gone from the gateway) and plans every region, as
  after a full read in one stream. What changed while the ranges were read is after that position: the next run
  reads it. Dapodik is then told the hub holds its feed up to that position (``POST /api/v1/hub/feed-read``): a
  range's pages move no school's read position on its sync screen (they are not in change order), this does.

The ranges split the id space by its first four hexadecimal digits (UUIDs spread evenly over them); any id falls in
exactly one range, since the ranges are consecutive intervals of the database's own order of the ids.

**The KIP listing** is read the same way (``KipListing``, ``planner._read_kip``), when a plan reads it from its
start: in ranges of card numbers, as many as the replica's first load would take for the registry's sequence
(``HUB_REPLICA_LOAD_RANGES``, ``HUB_REPLICA_LOAD_RANGE_VERSIONS``: the sequence counts at least as many versions as
there are cards). The listing's position once all are read is the one after the registry's sequence at the start.
The regions a range's cards mark are found by the plan from the cards stored since the previous plan
(``mirror.kip_regions_stored_since``), as after a plan's retry.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import Session

from services.sync_hub.config import Settings
from services.sync_hub.runs.models import FeedReadRangeRow, FeedReadRow
from shared.clock import utcnow
from shared.contracts.hub import SourceSystem
from shared.db import advisory_lock, session_scope

log = logging.getLogger("jembatan.hub.feed_ranges")

LOCK_BASE = 0x4A4246 << 40  # "JBF": the advisory lock of range ``idx`` of read ``id`` is LOCK_BASE + id * 4096 + idx


@dataclass(frozen=True)
class FeedPlan:
    """How a full read is split: into up to ``ranges`` ranges of at least ``min_records`` records (for the KIP listing:
    registry versions) each (fewer than two: one stream, as before); ``defer(session, read_id, indexes)`` enqueues the
    ranges' jobs in ``session``'s transaction (None: the plan reads every range itself)."""

    ranges: int = 1
    min_records: int = 20_000
    defer: Callable[[Session, int, list[int]], None] | None = None


def feed_plan(settings: Settings, defer: Callable[[Session, int, list[int]], None] | None) -> FeedPlan:
    return FeedPlan(settings.feed_read_ranges, settings.feed_read_range_records, defer)


def kip_plan(settings: Settings, defer: Callable[[Session, int, list[int]], None] | None) -> FeedPlan:
    """The KIP listing is split by registry version, as the replica's first load is."""
    return FeedPlan(settings.replica_load_ranges, settings.replica_load_range_versions, defer)


def bounds(count: int) -> list[str | None]:
    """``count + 1`` increasing bounds: range ``i`` holds the ids above bound ``i`` and up to bound ``i + 1`` (None: no
    bound). Each bound is a UUID, the least one with its first four hex digits (``10000000-0000-...``): the gateways
    take a bound shaped as their ids."""
    inner = [f"{(i * 0x10000) // count:04x}0000-0000-0000-0000-000000000000" for i in range(1, count)]
    return [None, *inner, None]


# ``store(session, run_id, records) -> int``: one page's records stored at the hub (the planner's)
Store = Callable[[Session, str, list[Any]], int]


class Source(Protocol):
    """What is read whole as ranges: a gateway's feed of students, or the registry's KIP listing."""

    name: str  # ``feed_read.system``
    store: Store

    def end(self) -> tuple[str, int]:
        """Where the source ends now (its resume position) and its size to split by."""

    def edges(self, count: int, size: int) -> list[str | None]:
        """``count + 1`` bounds of ``count`` ranges (None: no bound)."""

    def page(self, cursor: str | None, lo: str | None, hi: str | None, limit: int) -> Any:
        """The page of range (lo, hi] after ``cursor``: ``items`` and ``next_cursor`` (None: the range's last)."""


@dataclass
class GatewayFeed:
    """A gateway's feed, in ranges of student ids (``GET /api/v1/hub/feed-end``, ``id_after`` / ``id_upto``)."""

    system: SourceSystem
    client: Any
    store: Store

    @property
    def name(self) -> str:
        return self.system.value

    def end(self) -> tuple[str, int]:
        end = self.client.feed_end()
        return end.resume_cursor, end.records

    def edges(self, count: int, size: int) -> list[str | None]:
        return bounds(count)

    def page(self, cursor: str | None, lo: str | None, hi: str | None, limit: int) -> Any:
        return self.client.changes(limit=limit, cursor=cursor, id_after=lo, id_upto=hi)


BEYOND = 2**62  # above any registry version (the largest the listing's range bounds take)


@dataclass
class KipListing:
    """The registry's KIP listing, in ranges of card numbers (``no_kip_after`` / ``no_kip_upto``, paged in that order:
    every card present throughout the read is read once, as the gateways' id ranges read each student). The listing
    ends, for the read, at the registry's sequence when it starts (``head``): an empty page of a version window beyond
    every version says that sequence and resumes after it. A card changed while the ranges are read is above it, and
    the next run reads it (again, if its range had not passed it)."""

    client: Any
    store: Store
    name: str = "kip"

    def end(self) -> tuple[str, int]:
        page = self.client.list_kip(None, 1, since_version=BEYOND, until_version=BEYOND)
        return page.resume_cursor, page.observed_seq  # the sequence: at least as many versions as cards

    def edges(self, count: int, size: int) -> list[str | None]:
        return kip_bounds(count)

    def page(self, cursor: str | None, lo: str | None, hi: str | None, limit: int) -> Any:
        return self.client.list_kip(cursor, limit, no_kip_after=lo, no_kip_upto=hi)


KIP_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"  # a card number's characters, in the databases' order


def kip_bounds(count: int) -> list[str | None]:
    """``count + 1`` increasing bounds of card numbers (``[A-Z0-9]{6}``): range ``i`` holds the numbers above bound
    ``i`` and up to bound ``i + 1``. Each inner bound is a two-character prefix's largest number (``"3Z"`` then
    ``"3ZZZZZ"``), so a range ends where a prefix does."""
    n = len(KIP_ALPHABET) ** 2
    inner = []
    for i in range(1, count):
        k = i * n // count - 1
        inner.append(KIP_ALPHABET[k // len(KIP_ALPHABET)] + KIP_ALPHABET[k % len(KIP_ALPHABET)] + "ZZZZ")
    return [None, *inner, None]


def _key(read_id: int, idx: int) -> int:
    return LOCK_BASE + read_id * 4096 + idx


def _range_lock(engine: Engine, read_id: int, idx: int, *, wait: bool) -> AbstractContextManager[bool]:
    return advisory_lock(engine, _key(read_id, idx), wait=wait)


def existing(engine: Engine, run_id: str, name: str) -> FeedReadRow | None:
    """The run's ranged read of the source (``Source.name``), if an earlier attempt of its plan started one."""
    with session_scope(engine) as session:
        row = session.scalars(sa.select(FeedReadRow).where(FeedReadRow.sync_run_id == run_id,
                                                           FeedReadRow.system == name)
                              .order_by(FeedReadRow.id.desc())).first()  # type: ignore[union-attr]
        if row is not None:
            session.expunge(row)
        return row


def source_of(engine: Engine, read_id: int) -> str | None:
    """The name of the source the read reads (``Source.name``)."""
    with session_scope(engine) as session:
        read = session.get(FeedReadRow, read_id)
        return read.system if read is not None else None


def due(engine: Engine, source: Source, plan: FeedPlan) -> tuple[str, list[str | None]] | None:
    """The source's end position and the ranges' bounds, when a full read should be read as ranges; else None."""
    if plan.ranges < 2 or engine.dialect.name != "postgresql":
        return None
    end, size = source.end()
    count = min(plan.ranges, size // max(plan.min_records, 1))
    return (end, source.edges(count, size)) if count >= 2 else None


def start(engine: Engine, run_id: str, source: Source, end_cursor: str, edges: list[str | None],
          plan: FeedPlan) -> int:
    """Record a ranged read of the whole source (its ranges, their jobs deferred in the same transaction)."""
    count = len(edges) - 1
    with session_scope(engine) as session:
        read = FeedReadRow(sync_run_id=run_id, system=source.name, ranges=count, resume_cursor=end_cursor,
                           started_at=utcnow())
        session.add(read)
        session.flush()
        assert read.id is not None
        session.add_all([FeedReadRangeRow(read_id=read.id, idx=i, id_after=edges[i], id_upto=edges[i + 1])
                         for i in range(count)])
        session.flush()
        if plan.defer is not None:
            plan.defer(session, read.id, list(range(count)))
        read_id = read.id
    log.info("run %s: %s read as %d ranges (read %d)", run_id, source.name, count, read_id)
    return read_id


def pending(engine: Engine, read_id: int) -> list[int]:
    with session_scope(engine) as session:
        return list(session.scalars(
            sa.select(FeedReadRangeRow.idx)
            .where(FeedReadRangeRow.read_id == read_id, FeedReadRangeRow.done_at.is_(None))  # type: ignore[union-attr]
            .order_by(FeedReadRangeRow.idx)))


def work_range(engine: Engine, source: Source, read_id: int, idx: int, *, wait: bool = False,
               page_size: int = 1000) -> bool:
    """Read range ``idx`` from its stored cursor to its end unless another holds it (``wait``: until it lets go).
    True when the range is read, by this call or another."""
    with _range_lock(engine, read_id, idx, wait=wait) as mine:
        if not mine:
            return False
        with session_scope(engine) as session:
            row = session.get(FeedReadRangeRow, (read_id, idx))
            read = session.get(FeedReadRow, read_id)
            if row is None or read is None or row.done_at is not None:
                return True
            cursor, lo, hi = row.cursor, row.id_after, row.id_upto
            run_id = read.sync_run_id
        while True:
            page = source.page(cursor, lo, hi, page_size)
            with session_scope(engine) as session:
                stored = source.store(session, run_id, list(page.items))
                session.execute(sa.update(FeedReadRangeRow)
                                .where(FeedReadRangeRow.read_id == read_id, FeedReadRangeRow.idx == idx)
                                .values(cursor=page.next_cursor, records=FeedReadRangeRow.records + stored,
                                        done_at=None if page.next_cursor else utcnow()))
            if not page.next_cursor:
                return True
            cursor = page.next_cursor


def read_whole(engine: Engine, run_id: str, source: Source, plan: FeedPlan,
               before_start: Callable[[], object] | None = None) -> tuple[str, datetime, int] | None:
    """The run's ranged read of the source: the one an earlier attempt of its plan started, or a new one when the
    source is large enough (``before_start`` called first), read to its end (``read_all``). None: not read in
    ranges (read it in one stream)."""
    read = existing(engine, run_id, source.name)
    if read is not None:
        read_id = read.id
    else:
        due_now = due(engine, source, plan)
        if due_now is None:
            return None
        if before_start is not None:
            before_start()
        read_id = start(engine, run_id, source, *due_now, plan)
    assert read_id is not None
    return read_all(engine, source, read_id)


def read_all(engine: Engine, source: Source, read_id: int) -> tuple[str, datetime, int]:
    """Read the ranges nobody holds, then wait for the others (reading any whose holder stopped). Returns the feed's
    end position at the read's start, when the read started, and how many records the ranges stored."""
    for idx in pending(engine, read_id):
        work_range(engine, source, read_id, idx)
    while left := pending(engine, read_id):
        for idx in left:
            work_range(engine, source, read_id, idx, wait=True)
    with session_scope(engine) as session:
        read = session.get(FeedReadRow, read_id)
        assert read is not None
        records = session.execute(sa.select(sa.func.coalesce(sa.func.sum(FeedReadRangeRow.records), 0))
                                  .where(FeedReadRangeRow.read_id == read_id)).scalar_one()
        if read.finished_at is None:
            read.finished_at = utcnow()
        return read.resume_cursor, read.started_at, int(records)
