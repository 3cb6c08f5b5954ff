"""A full read of a gateway's feed (a first sync, a forced full run) read as ranges of its student ids at once, each
range a job any worker can take (PostgreSQL).

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
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

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
    """How a full read is split: into up to ``ranges`` ranges of at least ``min_records`` students each (fewer than
    two: one stream, as before); ``defer(session, read_id, indexes)`` enqueues the ranges' jobs in ``session``'s
    transaction (None: the plan reads every range itself)."""

    ranges: int = 1
    min_records: int = 20_000
    defer: Callable[[Session, int, list[int]], None] | None = None


def feed_plan(settings: Settings, defer: Callable[[Session, int, list[int]], None] | None) -> FeedPlan:
    return FeedPlan(settings.feed_read_ranges, settings.feed_read_range_records, defer)


def bounds(count: int) -> list[str | None]:
    """``count + 1`` increasing bounds: range ``i`` holds the ids above bound ``i`` and up to bound ``i + 1`` (None: no
    bound). Each bound is a UUID, the least one with its first four hex digits (``10000000-0000-...``): the gateways
    take a bound shaped as their ids."""
    inner = [f"{(i * 0x10000) // count:04x}0000-0000-0000-0000-000000000000" for i in range(1, count)]
    return [None, *inner, None]


def _key(read_id: int, idx: int) -> int:
    return LOCK_BASE + read_id * 4096 + idx


def _range_lock(engine: Engine, read_id: int, idx: int, *, wait: bool) -> AbstractContextManager[bool]:
    return advisory_lock(engine, _key(read_id, idx), wait=wait)


def existing(engine: Engine, run_id: str, system: SourceSystem) -> FeedReadRow | None:
    """The run's ranged read of the system's feed, if an earlier attempt of its plan started one."""
    with session_scope(engine) as session:
        row = session.scalars(sa.select(FeedReadRow).where(FeedReadRow.sync_run_id == run_id,
                                                           FeedReadRow.system == system.value)
                              .order_by(FeedReadRow.id.desc())).first()  # type: ignore[union-attr]
        if row is not None:
            session.expunge(row)
        return row


def system_of(engine: Engine, read_id: int) -> SourceSystem | None:
    with session_scope(engine) as session:
        read = session.get(FeedReadRow, read_id)
        return SourceSystem(read.system) if read is not None else None


def due(engine: Engine, client: Any, plan: FeedPlan) -> tuple[str, int] | None:
    """The feed's end position and the number of ranges, when a full read should be read as ranges; else None."""
    if plan.ranges < 2 or engine.dialect.name != "postgresql":
        return None
    end = client.feed_end()
    count = min(plan.ranges, end.records // max(plan.min_records, 1))
    return (end.resume_cursor, count) if count >= 2 else None


def start(engine: Engine, run_id: str, system: SourceSystem, end_cursor: str, count: int, plan: FeedPlan) -> int:
    """Record a ranged read of the whole feed (its ranges, their jobs deferred in the same transaction)."""
    with session_scope(engine) as session:
        read = FeedReadRow(sync_run_id=run_id, system=system.value, ranges=count, resume_cursor=end_cursor,
                           started_at=utcnow())
        session.add(read)
        session.flush()
        assert read.id is not None
        edges = bounds(count)
        session.add_all([FeedReadRangeRow(read_id=read.id, idx=i, id_after=edges[i], id_upto=edges[i + 1])
                         for i in range(count)])
        session.flush()
        if plan.defer is not None:
            plan.defer(session, read.id, list(range(count)))
        read_id = read.id
    log.info("run %s: the %s feed read as %d ranges (read %d)", run_id, system.value, count, read_id)
    return read_id


def pending(engine: Engine, read_id: int) -> list[int]:
    with session_scope(engine) as session:
        return list(session.scalars(
            sa.select(FeedReadRangeRow.idx)
            .where(FeedReadRangeRow.read_id == read_id, FeedReadRangeRow.done_at.is_(None))  # type: ignore[union-attr]
            .order_by(FeedReadRangeRow.idx)))


# ``store(session, run_id, system, records) -> int``: one page's records put into the hub's copy (the planner's)
Store = Callable[[Session, str, SourceSystem, list[Any]], int]


def work_range(engine: Engine, client: Any, read_id: int, idx: int, store: Store, *, wait: bool = False,
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
            cursor, id_after, id_upto = row.cursor, row.id_after, row.id_upto
            run_id, system = read.sync_run_id, SourceSystem(read.system)
        while True:
            page = client.changes(limit=page_size, cursor=cursor, id_after=id_after, id_upto=id_upto)
            with session_scope(engine) as session:
                stored = store(session, run_id, system, list(page.items))
                session.execute(sa.update(FeedReadRangeRow)
                                .where(FeedReadRangeRow.read_id == read_id, FeedReadRangeRow.idx == idx)
                                .values(cursor=page.next_cursor, records=FeedReadRangeRow.records + stored,
                                        done_at=None if page.next_cursor else utcnow()))
            if not page.next_cursor:
                return True
            cursor = page.next_cursor


def read_all(engine: Engine, client: Any, read_id: int, store: Store) -> tuple[str, datetime, int]:
    """Read the ranges nobody holds, then wait for the others (reading any whose holder stopped). Returns the feed's
    end position at the read's start, when the read started, and how many records the ranges stored."""
    for idx in pending(engine, read_id):
        work_range(engine, client, read_id, idx, store)
    while left := pending(engine, read_id):
        for idx in left:
            work_range(engine, client, read_id, idx, store, wait=True)
    with session_scope(engine) as session:
        read = session.get(FeedReadRow, read_id)
        assert read is not None
        records = session.execute(sa.select(sa.func.coalesce(sa.func.sum(FeedReadRangeRow.records), 0))
                                  .where(FeedReadRangeRow.read_id == read_id)).scalar_one()
        if read.finished_at is None:
            read.finished_at = utcnow()
        return read.resume_cursor, read.started_at, int(records)
