"""``Stack.problems``: what an end-to-end test shows when a service answered something unexpected — the warning
and error lines of every process's log, in the JSON format and the text format, and nothing else."""

from __future__ import annotations

from pathlib import Path

from jembatan.stack import Stack


def test_problems_are_the_warning_and_error_lines_of_every_log(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "sync_hub.log").write_text(
        '{"time": "t", "level": "INFO", "service": "sync_hub", "message": "WARNING in a message is not a level"}\n'
        '{"time": "t", "level": "ERROR", "service": "sync_hub", "message": "boom"}\n')
    (logs / "dapodik_gateway.log").write_text(
        "2026-12-03 20:00:00,000 INFO dapodik_gateway x: fine\n"
        "2026-12-03 20:00:01,000 WARNING dapodik_gateway db: answered 503\n")
    found = Stack(tmp_path).problems()
    assert found == ['dapodik_gateway: 2026-12-03 20:00:01,000 WARNING dapodik_gateway db: answered 503',
                     'sync_hub: {"time": "t", "level": "ERROR", "service": "sync_hub", "message": "boom"}']
    assert Stack(tmp_path).problems(limit=1) == found[:1]
