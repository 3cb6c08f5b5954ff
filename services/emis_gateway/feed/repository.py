"""SQL of the feed: the oldest write transaction still open (PostgreSQL), which bounds a resume position."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session


def oldest_open_transaction(session: Session) -> datetime | None:
    """When the oldest other transaction still open on this database began (PostgreSQL), or None when there is
    none. On SQLite, None: every writer of student rows holds the single write lock from before it takes its
    timestamp until it commits (``BEGIN IMMEDIATE``), so timestamps follow commit order there."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    return session.execute(sa.text(
        "SELECT min(xact_start) FROM pg_stat_activity WHERE datname = current_database() "
        "AND xact_start IS NOT NULL AND pid <> pg_backend_pid()")).scalar()
