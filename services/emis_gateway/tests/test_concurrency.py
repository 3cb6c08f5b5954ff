"""Two writers of one thing at once (PostgreSQL): the second waits for the first, then decides on what the first
stored. Two hub batches for one student (an older observation cannot slip in between); two imports of one file."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from services.emis_gateway.results.service import apply_batch
from services.emis_gateway.spreadsheet.service import import_siswa
from services.emis_gateway.tests.conftest import NSM_B, batch, item, seed
from services.emis_gateway.tests.test_spreadsheet import new_row, table, to_csv
from shared.contracts.common import FileFormat, HubResultBatch, HubResultBatchResponse
from shared.db import make_engine
from shared.testing import second_waits_for_first


@pytest.mark.postgres  # row locks matter on PostgreSQL; SQLite serialises writers anyway
def test_second_batch_waits_for_the_first_and_sees_its_values(postgres_url: str, tmp_path: Path) -> None:
    db_url = postgres_url
    seed(db_url, tmp_path / "world", 2)
    engine = make_engine(db_url)
    newer = HubResultBatch.model_validate(batch(item("siswa-0000", 20, periode_pkh="2026 tahap II")))
    older = HubResultBatch.model_validate(batch(item("siswa-0000", 15, periode_pkh="2026 tahap I")))
    answer: list[HubResultBatchResponse] = []

    def second() -> None:
        with Session(engine) as s:
            answer.append(apply_batch(s, older))
            s.commit()

    try:
        first = Session(engine)
        apply_batch(first, newer)  # holds the student's row lock until it commits
        worker = threading.Thread(target=second)
        worker.start()
        with engine.connect() as probe:  # wait (bounded; generous for a loaded machine) until it blocks on a lock
            for _ in range(1200):
                waiting = probe.execute(sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'")).scalar_one()
                probe.rollback()  # pg_stat_activity is a snapshot held for the transaction: look again in a new one
                if waiting:
                    break
                time.sleep(0.05)
        assert waiting, "the second batch should wait for the first one's lock"
        first.commit()
        first.close()
        worker.join(timeout=60)
        assert not worker.is_alive()
        assert [r.status.value for r in answer[0].results] == ["STALE"]
        with engine.connect() as conn:
            value = conn.execute(sa.text("SELECT periode_pkh FROM siswa WHERE siswa_id = 'siswa-0000'")).scalar_one()
        assert value == "2026 tahap II"
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_two_imports_of_one_file_take_turns_and_create_each_student_once(postgres_url: str, tmp_path: Path) -> None:
    """An operator's upload sent twice at once (a double click, a retry after a timeout): the second waits for the
    first and finds the students it created by their NISN. Before, both created them."""
    seed(postgres_url, tmp_path / "world", 2)
    engine = make_engine(postgres_url)
    data = to_csv(table([new_row(1), new_row(2)]))
    upload = lambda s: import_siswa(s, NSM_B, data, FileFormat.CSV)  # noqa: E731
    try:
        first, then = second_waits_for_first(engine, upload, upload)
        assert (first.created, then.created, then.unchanged) == (2, 0, 2)
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM siswa WHERE nsm = :n"), {"n": NSM_B}).scalar_one() == 2
    finally:
        engine.dispose()
