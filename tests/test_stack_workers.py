"""``Stack.start_worker`` after a worker was killed: the new worker gets a name no running worker has. Before, it was
named after the count of running workers, took the name of one still running, and that one was forgotten: never
stopped, it outlived its test (and, since a worker now starts again when its database goes away, forever)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from jembatan.stack import Stack


class FakeProcess:
    def __init__(self, *_args: Any, **_kwargs: Any) -> None:
        self.alive = True

    def kill(self) -> None:
        self.alive = False

    def wait(self, _timeout: float | None = None) -> int:
        return 0

    def poll(self) -> int | None:
        return None if self.alive else 0

    def send_signal(self, _signal: int) -> None:
        self.alive = False


def test_a_worker_started_after_a_kill_takes_a_free_name_and_every_worker_is_stopped(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(subprocess, "Popen", FakeProcess)
    (tmp_path / "logs").mkdir()
    stack = Stack(tmp_path)
    first, second = stack.start_worker(), stack.start_worker()
    assert (first, second) == ("sync_hub_worker_1", "sync_hub_worker_2")
    running = stack.procs[second]
    stack.kill(first)
    third = stack.start_worker()
    assert third != second and stack.procs[second] is running
    workers = [p for name, p in stack.procs.items() if name.startswith("sync_hub_worker")]
    stack.stop()
    assert len(workers) == 2 and not any(p.alive for p in workers)  # type: ignore[attr-defined]
