"""What a job needs: the hub's database, its upstream clients and settings (one per process)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from services.sync_hub.config import Settings
from services.sync_hub.upstreams import Upstreams


@dataclass
class JobContext:
    db: Engine
    upstreams: Upstreams
    settings: Settings
    # enqueues units as part of a session's transaction (the process's queue sets it): how a unit that ends a
    # run's deciding stage enqueues its verification units
    defer_units: Callable[[Session, list[str]], None] | None = None
    # enqueues the range jobs of a ranged first load of the registry replica (``replica.ranged``), likewise
    defer_registry_ranges: Callable[[Session, int, list[int]], None] | None = None
    # enqueues the range jobs of a full feed read as ranges (``sync.feed_ranges``), likewise
    defer_feed_ranges: Callable[[Session, int, list[int]], None] | None = None
