"""What a job needs: the hub's database, its upstream clients and settings (one per process)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from services.sync_hub.config import Settings
from services.sync_hub.upstreams import Upstreams


@dataclass
class JobContext:
    db: Engine
    upstreams: Upstreams
    settings: Settings
