"""The embedded queue with several API processes on one SQLite file: one of them runs the jobs."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from services.sync_hub.config import Settings
from services.sync_hub.jobs import queue as queue_module
from services.sync_hub.jobs.context import JobContext
from services.sync_hub.jobs.queue import LocalQueue, runner_lock_path
from services.sync_hub.main import MIGRATIONS
from services.sync_hub.runs.service import RunQueue
from shared.contracts.hub import SyncRunCreate
from shared.db import make_engine, migrate


def _queue(url: str, planned: list[tuple[str, str]], name: str) -> LocalQueue:
    engine = make_engine(url)
    queue = LocalQueue(JobContext(engine, None, Settings(database_url=url)))  # type: ignore[arg-type]
    queue._plan = lambda run_id: planned.append((name, run_id))  # type: ignore[method-assign]
    return queue


def _until(condition: Any, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_one_process_runs_the_jobs_and_another_takes_over_when_it_ends(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Two processes' queues on one hub database (two ``LocalQueue`` on separate lock-file descriptors conflict like
    two processes): the first runs the jobs; a run queued through the second is planned by the first's sweep,
    once; when the first stops, the second becomes the runner and resumes the run still queued."""
    monkeypatch.setattr(queue_module, "SWEEP_SECONDS", 0.05)
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    migrate(MIGRATIONS, url)
    planned: list[tuple[str, str]] = []
    first, second = _queue(url, planned, "first"), _queue(url, planned, "second")
    first.start()
    second.start()
    try:
        assert first.runner and not second.runner
        assert runner_lock_path(first.ctx.db) == f"{tmp_path / 'hub.db'}.jobs.lock"
        run = RunQueue(second.ctx.db, second).submit(SyncRunCreate(), "test")
        assert _until(lambda: planned)
        time.sleep(0.3)  # several sweeps: the run is planned once
        assert planned == [("first", run.id)]
        first.shutdown()
        assert _until(lambda: second.runner)
        assert _until(lambda: len(planned) == 2)
        assert planned[1] == ("second", run.id)
    finally:
        first.shutdown()
        second.shutdown()


def test_a_single_process_plans_at_commit_without_waiting_for_a_sweep(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    migrate(MIGRATIONS, url)
    planned: list[tuple[str, str]] = []
    only = _queue(url, planned, "only")
    only.start()
    done = threading.Event()
    only._plan = lambda run_id: (planned.append(("only", run_id)), done.set())  # type: ignore[method-assign]
    try:
        run = RunQueue(only.ctx.db, only).submit(SyncRunCreate(), "test")
        assert done.wait(0.5)  # well before the first sweep (SWEEP_SECONDS = 1)
        assert planned == [("only", run.id)]
    finally:
        only.shutdown()
