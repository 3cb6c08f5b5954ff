"""Two hub batches for one student at once (PostgreSQL): the second waits for the first, then judges
its item against what the first stored, so an older observation cannot slip in between."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from services.emis_gateway.results.service import apply_batch
from services.emis_gateway.tests.conftest import batch, item, seed
from shared.contracts.common import HubResultBatch, HubResultBatchResponse
from shared.db import make_engine


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
