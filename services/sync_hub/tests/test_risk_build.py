"""A run that changed nothing keeps the period's families-at-risk report (``risk.build.rebuild``): the build is
kept while every input the report reads stands where it stood, and made again as soon as one moves. SQLite and
PostgreSQL."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from services.sync_hub.config import Settings
from services.sync_hub.main import create_app
from services.sync_hub.mirror.models import StudentMirrorRow
from services.sync_hub.replica.models import ReplicaStateRow
from services.sync_hub.risk import build
from services.sync_hub.runs.models import StudentStatusRow
from shared.clock import utcnow
from shared.db import session_scope

PERIODE = "2026-T3"


@pytest.fixture
def engine(db_url: str, tmp_path: Path) -> Iterator[sa.Engine]:
    app = create_app(Settings(database_url=db_url, local_key_dir=tmp_path / "keys", replica_follow_seconds=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with TestClient(app):
            yield app.state.engine


def rebuild(engine: sa.Engine, run_id: str) -> build.Built:
    with session_scope(engine) as session:
        return build.rebuild(session, PERIODE, run_id)


def test_a_build_is_kept_while_nothing_it_reads_moves(engine: sa.Engine) -> None:
    first = rebuild(engine, "run-1")
    assert "kept" not in first.seconds
    again = rebuild(engine, "run-2")
    assert again.build_id == first.build_id and again.seconds.get("kept") == 1.0 and again.counts == first.counts

    # a student's status written (a run's unit, a check): built again, then kept
    with session_scope(engine) as session:
        session.add(StudentStatusRow(system="emis", student_id="s-1", region="3201012001", outcome="NO_NIK",
                                     sync_run_id="run-3", updated_at=utcnow()))
    moved = rebuild(engine, "run-3")
    assert moved.build_id != first.build_id and "kept" not in moved.seconds
    assert rebuild(engine, "run-4").build_id == moved.build_id

    # the registry replica moved (a PKH status changed in the change feed)
    with session_scope(engine) as session:
        state = session.get(ReplicaStateRow, 1) or ReplicaStateRow(id=1)
        state.observed_seq += 1
        session.add(state)
    replica = rebuild(engine, "run-5")
    assert replica.build_id != moved.build_id
    assert rebuild(engine, "run-6").build_id == replica.build_id

    # the hub's copy of a student stored (read from a school system's feed, with its attendance)
    with session_scope(engine) as session:
        session.add(StudentMirrorRow(system="dapodik", student_id="pd-1", school="sek-1", nama="Ani",
                                     jenis_kelamin="P", tanggal_lahir=date(2014, 1, 1), current_json="{}",
                                     attested_json="{}", read_at=utcnow()))
    assert rebuild(engine, "run-7").build_id != replica.build_id

    # a student's status removed (a record gone from its school system)
    kept = rebuild(engine, "run-8")
    with session_scope(engine) as session:
        session.execute(sa.delete(StudentStatusRow))
    assert rebuild(engine, "run-9").build_id != kept.build_id
