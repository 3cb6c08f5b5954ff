"""The hub's gauges, computed from its database at scrape time (multi-process correct: the API processes and
the ``worker`` processes share that database; docs/operations.md lists them)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from fastapi import FastAPI
from prometheus_client.core import Metric

from services.sync_hub.ops import repository
from shared.observability.metrics import DbCollector, gauge

DEAD_OUTBOX = ("FAILED", "REJECTED")  # outbox items given up on: sent again by no job (a run must replan them)


class HubCollector(DbCollector):
    def __init__(self, app: FastAPI, ttl: float = 5.0) -> None:
        super().__init__("sync_hub", ttl)
        self.app = app

    def read(self) -> Iterable[Metric]:
        now = datetime.now(UTC)
        with self.app.state.engine.connect() as conn:
            s = repository.read(conn, now)
        yield gauge("jembatan_hub_runs", "Sync runs by status (checks excluded)", ["status"],
                    [([k], v) for k, v in sorted(s.runs.items())])
        yield gauge("jembatan_hub_active_run_age_seconds", "Seconds since the queued or running run started (0: "
                    "none active); the RunStuck alert watches it", [],
                    [([], (now - s.oldest_active_started).total_seconds() if s.oldest_active_started else 0.0)])
        yield gauge("jembatan_hub_last_run_finished_timestamp_seconds", "When the newest run ended (Unix time; 0: "
                    "never)", [], [([], s.last_finished.timestamp() if s.last_finished else 0.0)])
        yield gauge("jembatan_hub_last_run_students", "Students of the newest ended run, by outcome code",
                    ["outcome"], [([k], v) for k, v in sorted(s.last_run_outcomes.items())])
        yield gauge("jembatan_hub_units", "Work units of the newest run, by kind (decide, verify) and status",
                    ["kind", "status"], [([k, st], v) for (k, st), v in sorted(s.units.items())])
        yield gauge("jembatan_hub_students", "Students by their latest outcome in a sync run, per system",
                    ["system", "outcome"], [([sy, o], v) for (sy, o), v in sorted(s.students.items())])
        yield gauge("jembatan_hub_checked_students_last_hour", "Students decided by checks (Request Data PKH) in "
                    "the last hour, by system and outcome", ["system", "outcome"],
                    [([sy, o], v) for (sy, o), v in sorted(s.checked.items())])
        yield gauge("jembatan_hub_outbox_items", "Result items pushed to the gateways (transactional outbox), by "
                    "target system and result (PENDING: not answered yet)", ["system", "result"],
                    [([sy, st], v) for (sy, st), v in sorted(s.outbox.items())])
        dead = [(["outbox"], float(sum(v for (_, st), v in s.outbox.items() if st in DEAD_OUTBOX)))]
        if s.jobs or self.app.state.engine.dialect.name == "postgresql":
            dead.append((["jobs"], float(s.jobs.get("failed", 0))))
        yield gauge("jembatan_hub_dead_letters", "Items given up on: outbox items FAILED or REJECTED, queue jobs "
                    "failed after their last attempt", ["source"], dead)
        if s.jobs or self.app.state.engine.dialect.name == "postgresql":
            depth = {"todo": s.jobs.get("todo", 0), "doing": s.jobs.get("doing", 0)}
        else:  # SQLite: the API's own threads run the units of the active run
            depth = {"todo": sum(v for (_, st), v in s.units.items() if st == "WAITING"),
                     "doing": sum(v for (_, st), v in s.units.items() if st == "RUNNING")}
        yield gauge("jembatan_hub_queue_depth", "Jobs waiting (todo) and running (doing) in the hub's queue",
                    ["state"], [([k], float(v)) for k, v in depth.items()])
        yield gauge("jembatan_hub_replica_loaded", "1 once the registry replica has been read at least once", [],
                    [([], 1.0 if s.replica_synced else 0.0)])
        yield gauge("jembatan_hub_replica_lag_seconds", "Seconds since the replica last caught up with the "
                    "registry's change feed (its follower reads it every few seconds)", [],
                    [([], (now - s.replica_synced).total_seconds() if s.replica_synced else 0.0)])
        yield gauge("jembatan_hub_replica_sequence", "The registry change-feed sequence the replica has read to",
                    [], [([], float(s.replica_seq))])


def replica_ready(app: FastAPI) -> str | None:
    """/ready: a check decides from the replica, so the hub is not ready before it was loaded once."""
    with app.state.engine.connect() as conn:
        if repository.replica_synced_at(conn) is None:
            return "not loaded yet: the follower's first read of the registry has not finished"
    return None
