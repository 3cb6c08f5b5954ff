"""The replica's follower: a background thread that reads the registry's change feed every few seconds, so
requests (on-demand checks) decide from a current replica without ever refreshing it themselves.

One refresh at a time: within a process ``replica.service.refresh`` holds a lock (a sync run's own refresh
waits for the follower's); across processes (several uvicorn workers) only the holder of a lease follows —
a PostgreSQL advisory lock, or on SQLite an exclusive lock on a file next to the database — the others skip
their turn. A run's plan, in a worker process, takes the same lease and waits for it (``refresh``): it never
reads the feed while the follower reads the same pages (which would make the registry build and the hub parse
every page twice), and reads only what is left after the follower's round.
"""

from __future__ import annotations

import fcntl
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from services.sync_hub.replica import ranged
from services.sync_hub.replica import service as replica
from shared.clients import KemensosClient
from shared.db import advisory_lock, database_unavailable
from shared.http import ClientError

log = logging.getLogger("jembatan.hub.replica.follower")
ADVISORY_KEY = 0x4A424654  # "JBFT": the follower's lease in PostgreSQL


@contextmanager
def _lease(engine: Engine, *, wait: bool = False) -> Iterator[bool]:
    """Whether this process may follow now (held for the block); ``wait``: until the holder lets it go."""
    if engine.dialect.name == "postgresql":
        with advisory_lock(engine, ADVISORY_KEY, wait=wait) as got:
            yield got
        return
    database = engine.url.database
    if not database or database == ":memory:":
        yield True
        return
    with open(Path(database).with_suffix(".follower.lock"), "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def refresh(engine: Engine, client: KemensosClient,
            on_page: Callable[[Session, int], None] | None = None,
            load: ranged.LoadPlan | None = None) -> replica.RefreshResult:
    """``replica.service.refresh`` under the follower's lease, waited for: a run's plan brings the replica up to
    date from where the follower (in another process, or a thread of this one) left it, never beside it. ``load``:
    a first load is read as ranges (``replica.ranged``); the plan reads the ranges nobody holds and waits for the
    others before it follows the feed."""
    if load is not None:
        ranged.settle(engine, client, load, on_page, wait=True)
    with _lease(engine, wait=True):
        return replica.refresh(engine, client, on_page=on_page)


class ReplicaFollower:
    def __init__(self, engine: Engine, client: KemensosClient, every_seconds: float,
                 on_page: Callable[[Session, int], None] | None = None, load: ranged.LoadPlan | None = None) -> None:
        """``on_page``: as ``replica.service.refresh``'s, for each page a round applies; ``load``: a first load is
        read as ranges (``replica.ranged``): a round reads the ranges nobody holds, and follows the feed once
        every range is read."""
        self.engine, self.client, self.every, self.on_page, self.load = engine, client, every_seconds, on_page, load
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="replica-follower", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def follow_once(self) -> replica.RefreshResult | None:
        """One refresh if this process holds the lease and no refresh runs here; None when skipped (or while a
        ranged first load is still being read)."""
        if self.load is not None and not ranged.settle(self.engine, self.client, self.load, self.on_page, wait=False):
            return None
        with _lease(self.engine) as mine:
            if not mine:
                return None
            return replica.try_refresh(self.engine, self.client, on_page=self.on_page)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.follow_once()
            except ClientError as exc:  # the registry is down: the replica stays as it is, try again later
                log.warning("replica follower: the registry could not be read: %s", type(exc).__name__)
            except Exception as exc:  # the follower must survive anything
                why = database_unavailable(exc)
                if why is None:
                    log.exception("replica follower: a refresh failed")
                else:  # a restart, a failover: the next refresh goes on from what was committed
                    log.warning("replica follower: a refresh was cut short: %s", why)
            self._stop.wait(self.every)
