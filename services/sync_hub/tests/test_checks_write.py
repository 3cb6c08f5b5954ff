"""A check's write on PostgreSQL: its rows and the ledger's lock in one statement (``checks.repository.record``
with ``lock_ledger``), then its entries and the head in one more (``ledger.repository.add_entries``)."""

from __future__ import annotations

import multiprocessing
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import Session

from services.sync_hub.checks import repository
from services.sync_hub.ledger import keys
from services.sync_hub.ledger import service as ledger
from services.sync_hub.main import MIGRATIONS
from services.sync_hub.tests.test_ledger import _append_many, at_once, check, provenance_rows
from shared.db import make_engine, migrate, session_scope

pytestmark = pytest.mark.postgres


@pytest.fixture
def hub(postgres_url: str, tmp_path: Path) -> Iterator[tuple[Engine, keys.Signer]]:
    migrate(MIGRATIONS, postgres_url)
    keys.generate(tmp_path / "k.pem")
    engine = make_engine(postgres_url)
    yield engine, keys.signer(tmp_path / "k.pem", postgres_url)
    engine.dispose()


def a_check(student_ids: list[str]) -> tuple[dict[str, object], list[dict[str, object]], list[dict[str, object]],
                                               list[dict[str, object]]]:
    """The rows ``Checks.check`` hands ``record`` for one check of ``student_ids`` (one value each)."""
    check_id, now = str(uuid.uuid4()), datetime.now(UTC)
    provenance = provenance_rows(len(student_ids), f"{check_id[:8]}-")
    for row, sid in zip(provenance, student_ids, strict=True):
        row.update(sync_run_id=check_id, target_record=sid, written_at=now)
    return ({"id": check_id, "system": "emis", "client": "emis_gateway", "created_at": now, "observed_seq": 10,
             "students": len(student_ids), "items": len(student_ids)},
            [{"check_id": check_id, "student_id": sid, "outcome": "NOT_PKH_RECIPIENT", "matched_by": "nik",
              "detail": None} for sid in student_ids],
            provenance,
            [{"system": "emis", "student_id": sid, "requested_at": now} for sid in student_ids])


def record_and_append(engine: Engine, student_ids: list[str]) -> None:
    """As ``Checks.check`` writes on PostgreSQL: the rows with the lock, then the append under it, one transaction."""
    check, outcomes, provenance, refetch = a_check(student_ids)
    with Session(engine, expire_on_commit=False) as session, session.begin():
        locked = repository.record(session, check, outcomes, provenance, refetch, lock_ledger=True)
        assert locked is not None
        ledger.append_provenance(session, provenance, None, locked)


def _checks_in_a_process(url: str, tag: str, batches: int) -> None:
    engine = make_engine(url)
    try:
        for b in range(batches):
            record_and_append(engine, [f"S-{tag}{b}-{i}" for i in range(3)])
    finally:
        engine.dispose()


def test_checks_and_other_appends_in_two_processes_at_once_keep_one_valid_chain(hub, postgres_url: str) -> None:  # type: ignore[no-untyped-def]
    engine, signer = hub
    ctx = multiprocessing.get_context("spawn")
    at_once([ctx.Process(target=_checks_in_a_process, args=(postgres_url, "c", 20)),
             ctx.Process(target=_append_many, args=(postgres_url, "a", 15))])
    ledger.checkpoint(engine, signer)
    report = check(engine, signer)
    assert report.ok, report.problems
    assert report.entries == 20 * 3 + 15 * 7 and report.unledgered == 0 and report.unchecked_tail == 0


def test_the_ledgers_lock_is_taken_only_after_the_checks_rows_are_written(hub) -> None:  # type: ignore[no-untyped-def]
    """A check waiting for a row another transaction holds (its student's refetch row) does not hold the ledger's
    lock meanwhile: the locks keep the order they had as separate statements (rows, then the head), so a
    transaction that holds the row and then appends cannot deadlock with the check."""
    engine, _ = hub
    other = engine.connect()
    other.execute(sa.text("INSERT INTO mirror_refetch (system, student_id, requested_at) VALUES ('emis', 'S-held', "
                          "now())"))  # uncommitted: its row lock is held until the rollback below
    done: list[BaseException | None] = []

    def run() -> None:
        try:
            record_and_append(engine, ["S-held"])
            done.append(None)
        except BaseException as exc:  # reported by the assertion below
            done.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        with engine.connect() as probe:  # wait until the check's statement is blocked on the held row
            for _ in range(200):
                waiting = probe.execute(sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock' AND query LIKE 'WITH w0 AS%'")).scalar_one()
                probe.rollback()  # the activity view is read once per transaction
                if waiting:
                    break
                threading.Event().wait(0.05)
            assert waiting == 1
            # the head is free: no lock on it while the check waits for its rows
            assert probe.execute(sa.text("SELECT seq FROM ledger_head WHERE id = 1 FOR UPDATE NOWAIT")
                                 ).scalar_one() == 0
            probe.rollback()
    finally:
        other.rollback()
        other.close()
        thread.join(30)
    assert done == [None]
    with session_scope(engine) as session:
        assert session.execute(sa.text("SELECT seq FROM ledger_head WHERE id = 1")).scalar_one() == 1
