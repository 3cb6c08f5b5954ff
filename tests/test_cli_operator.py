"""The operator's CLI (issue 13 point 8): errors are one line with the fix and no traceback unless --debug;
``jembatan runs``, ``outcomes --export`` and ``review`` against a real hub app (in process, through the SDK)."""

from __future__ import annotations

import csv
import socket
from pathlib import Path

import jembatan_client as sdk
import pytest
from typer.testing import CliRunner

from jembatan import operator
from jembatan.cli import app
from services.sync_hub.runs.models import StudentOutcomeRow
from services.sync_hub.tests.test_roles import Hub, hub  # noqa: F401  (fixture)
from shared.db import session_scope


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_hub_is_one_line_with_the_fix(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    with pytest.raises(SystemExit) as done:
        operator.run_cli(app, ["runs", "--hub", url, "--token", "t"])
    assert done.value.code == 1
    out = capsys.readouterr()
    lines = [line for line in out.err.splitlines() if line.strip()]
    assert lines[0].startswith("error: cannot reach the service") and url in lines[0]
    assert "python -m services.sync_hub serve" in lines[0] and "JEMBATAN_HUB_URL" in lines[0]
    assert "Traceback" not in out.err + out.out and len(lines) == 2


def test_debug_shows_the_traceback() -> None:
    with pytest.raises(sdk.Unavailable):
        operator.run_cli(app, ["--debug", "runs", "--hub", f"http://127.0.0.1:{_closed_port()}", "--token", "t"])


def test_a_refused_token_names_how_to_get_one(hub: Hub, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(operator, "_hub", lambda url, token: sdk.HubClient(url, token, transport=hub.http._transport))
    with pytest.raises(SystemExit):
        operator.run_cli(app, ["runs", "--hub", "http://testserver", "--token", "not-a-token"])
    err = capsys.readouterr().err
    assert "refused the token (401" in err and "jembatan token --user" in err and "Traceback" not in err


def test_runs_outcomes_export_and_review_against_the_hub(hub: Hub, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
                                                         tmp_path: Path) -> None:
    with session_scope(hub.http.app.state.engine) as session:  # type: ignore[attr-defined]
        session.add_all([StudentOutcomeRow(sync_run_id=hub.run_id, system="emis", student_id=f"s-{n}",
                                           outcome="PKH_RECIPIENT" if n % 2 else "NO_NIK", detail=None,
                                           matched_by="nik" if n % 2 else "none") for n in range(5)])
    monkeypatch.setattr(operator, "_hub", lambda url, token: sdk.HubClient(url, token, transport=hub.http._transport))
    viewer = hub.person("ops", "viewer")["Authorization"].split()[1]
    runner = CliRunner()
    listed = runner.invoke(app, ["runs", "--hub", "http://testserver", "--token", viewer])
    assert listed.exit_code == 0 and hub.run_id[:8] in listed.output and "SUCCEEDED" in listed.output
    target = tmp_path / "outcomes.csv"
    exported = runner.invoke(app, ["outcomes", hub.run_id, "--export", str(target), "--token", viewer])
    assert exported.exit_code == 0, exported.output
    rows = list(csv.DictReader(target.open()))
    assert len(rows) == 5 and {r["outcome"] for r in rows} == {"PKH_RECIPIENT", "NO_NIK"}
    summary = runner.invoke(app, ["outcomes", hub.run_id, "--token", viewer])
    assert "PKH_RECIPIENT" in summary.output and "NO_NIK" in summary.output
    reviewer = hub.person("rev", "reviewer")["Authorization"].split()[1]
    cases = runner.invoke(app, ["review", "list", "--token", reviewer])
    assert hub.case_id in cases.output
    decided = runner.invoke(app, ["review", "decide", hub.case_id, "--verdict", "no_link", "--reason", "bukan dia",
                                  "--token", reviewer])
    assert decided.exit_code == 0 and "no_link by rev" in decided.output


def test_world_generation_reports_each_file_as_it_is_written(tmp_path: Path) -> None:
    """What the demo's progress bar follows: one call per file written, with its rows, once it is on disk."""
    from worldgen.config import WorldConfig
    from worldgen.generate import generate_world

    seen: list[tuple[str, int]] = []
    generate_world(WorldConfig(seed=7, n_families=40), tmp_path, on_file=lambda name, rows: seen.append((name, rows)))
    names = {name for name, _ in seen}
    assert {"kemensos/keluarga.jsonl", "emis/siswa.jsonl", "dapodik/peserta_didik.jsonl"} <= names
    for name, rows in seen:
        assert (tmp_path / name).exists()
        if name.endswith(".jsonl"):
            assert sum(1 for _ in (tmp_path / name).open()) == rows
