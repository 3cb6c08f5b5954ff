"""The SQL behind the hub's gauges and readiness: counts grouped by status, read at scrape time. Each query
reads an indexed status column or one small table; none reads personal data."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

ACTIVE = ("QUEUED", "RUNNING")


@dataclass
class HubState:
    runs: dict[str, int] = field(default_factory=dict)  # status -> runs
    oldest_active_started: datetime | None = None  # the queued / running run's start (or creation)
    last_finished: datetime | None = None
    last_run_outcomes: dict[str, int] = field(default_factory=dict)  # the newest finished run's students
    units: dict[tuple[str, str], int] = field(default_factory=dict)  # (kind, status) -> units of the newest run
    students: dict[tuple[str, str], int] = field(default_factory=dict)  # (system, outcome) -> students now
    checked: dict[tuple[str, str], int] = field(default_factory=dict)  # (system, outcome) -> checked last hour
    outbox: dict[tuple[str, str], int] = field(default_factory=dict)  # (system, status) -> items
    jobs: dict[str, int] = field(default_factory=dict)  # procrastinate status -> jobs (PostgreSQL)
    replica_synced: datetime | None = None
    replica_seq: int = 0


def _aware(value: object) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):  # SQLite returns text for raw SQL
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


def replica_synced_at(conn: Connection) -> datetime | None:
    row = conn.execute(sa.text("SELECT synced_at FROM replica_state WHERE id = 1")).first()
    return _aware(row[0]) if row else None


def read(conn: Connection, now: datetime) -> HubState:
    state = HubState()
    state.runs = {s: n for s, n in conn.execute(sa.text("SELECT status, COUNT(*) FROM sync_run GROUP BY status"))}
    row = conn.execute(sa.text(
        "SELECT MIN(COALESCE(started_at, created_at)) FROM sync_run WHERE status IN ('QUEUED', 'RUNNING')")).first()
    state.oldest_active_started = _aware(row[0]) if row else None
    last = conn.execute(sa.text(
        "SELECT id, finished_at, outcomes FROM sync_run WHERE finished_at IS NOT NULL AND student_ids IS NULL "
        "ORDER BY finished_at DESC LIMIT 1")).first()
    if last is not None:
        state.last_finished = _aware(last[1])
        outcomes = last[2]
        if isinstance(outcomes, str):
            outcomes = json.loads(outcomes)
        state.last_run_outcomes = {str(k): int(v) for k, v in (outcomes or {}).items()}
    newest = conn.execute(sa.text("SELECT id FROM sync_run WHERE student_ids IS NULL "
                                  "ORDER BY created_at DESC LIMIT 1")).first()
    if newest is not None:
        state.units = {(k, s): n for k, s, n in conn.execute(sa.text(
            "SELECT kind, status, COUNT(*) FROM sync_unit WHERE sync_run_id = :run GROUP BY kind, status"),
            {"run": newest[0]})}
    state.students = {(sy, o): n for sy, o, n in conn.execute(sa.text(
        "SELECT system, outcome, COUNT(*) FROM student_status GROUP BY system, outcome"))}
    state.checked = {(sy, o): n for sy, o, n in conn.execute(sa.text(
        "SELECT c.system, o.outcome, COUNT(*) FROM hub_check c JOIN hub_check_outcome o ON o.check_id = c.id "
        "WHERE c.created_at >= :since GROUP BY c.system, o.outcome"), {"since": now - timedelta(hours=1)})}
    state.outbox = {(sy, s): n for sy, s, n in conn.execute(sa.text(
        "SELECT target_system, status, COUNT(*) FROM outbox_item GROUP BY target_system, status"))}
    if conn.dialect.name == "postgresql" and conn.execute(sa.text(
            "SELECT to_regclass('procrastinate_jobs') IS NOT NULL")).scalar():
        state.jobs = {str(s): n for s, n in conn.execute(sa.text(
            "SELECT status, COUNT(*) FROM procrastinate_jobs GROUP BY status"))}
    rep = conn.execute(sa.text("SELECT synced_at, observed_seq FROM replica_state WHERE id = 1")).first()
    if rep is not None:
        state.replica_synced, state.replica_seq = _aware(rep[0]), int(rep[1] or 0)
    return state
