"""The outbox and provenance rows written set-wise, on both databases: what is read back is what was written, and
each outbox row is settled with its own answer however many rows share one."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from services.sync_hub.main import MIGRATIONS
from services.sync_hub.provenance import repository as prov_repo
from services.sync_hub.runs.models import SyncRunRow
from shared.db import make_engine, migrate, session_scope

AT = datetime(2026, 5, 1, 3, 4, 5, 678901, tzinfo=UTC)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    migrate(MIGRATIONS, db_url)
    engine = make_engine(db_url)
    with session_scope(engine) as session:
        session.add(SyncRunRow(id="run-1", status="RUNNING", trigger="test", systems=["emis"], created_at=AT))
    yield engine
    engine.dispose()


def test_outbox_rows_are_settled_each_with_its_own_answer(engine: Engine) -> None:
    ids = [str(uuid.uuid4()) for _ in range(1203)]  # more than one UPDATE's id list
    with session_scope(engine) as session:
        prov_repo.add_outbox(session, [
            {"id": i, "sync_run_id": "run-1", "unit_id": "u-1", "target_system": "emis", "student_id": f"S-{n}",
             "payload": json.dumps({"n": n, "text": "é \"q\" \\ \t"}), "status": "PENDING", "created_at": AT}
            for n, i in enumerate(ids)])
    later = AT + timedelta(seconds=3)

    def answer(n: int) -> tuple[str, str | None, datetime]:
        if n % 7 == 0:
            return "STALE", "record holds newer values for: no_kks", AT
        if n % 11 == 0:
            return "FAILED", f"connection reset {n % 2}", later
        return ("APPLIED" if n % 2 else "UNCHANGED"), None, AT

    with session_scope(engine) as session:
        prov_repo.settle_outbox(session, [
            {"b_id": i, "status": answer(n)[0], "detail": answer(n)[1], "sent_at": answer(n)[2]}
            for n, i in enumerate(ids[:1200])])
    with engine.connect() as conn:
        rows = {r.id: r for r in conn.execute(sa.select(prov_repo.OUTBOX))}
    assert len(rows) == len(ids)
    for n, i in enumerate(ids):
        row = rows[i]
        assert json.loads(row.payload) == {"n": n, "text": "é \"q\" \\ \t"}
        assert row.student_id == f"S-{n}" and row.unit_id == "u-1"
        if n >= 1200:  # not answered: left as it was
            assert (row.status, row.detail, row.sent_at) == ("PENDING", None, None)
            continue
        status, detail, sent_at = answer(n)
        assert (row.status, row.detail) == (status, detail)
        assert row.sent_at.replace(tzinfo=UTC) == sent_at  # SQLite hands UTC back naive


def test_provenance_rows_read_back_as_written(engine: Engine) -> None:
    rows = [{"id": str(uuid.uuid4()), "provenance_id": str(uuid.uuid4()), "sync_run_id": "run-1",
             "target_system": "dapodik", "target_record": f"pd-{n}", "field": ("no_kip", "penerima_kip")[n % 2],
             "value_json": json.dumps((f"K{n}", True, None)[n % 3]), "source_system": "kemensos.kip",
             "source_record": f"kip/K{n}", "source_version": n + (n % 2) * 2**40,
             "observed_seq": 1000 + n + (n % 3) * 2**33,  # the registry's numbers pass 32 bits
             "retrieved_at": AT, "matched_by": "nik", "written_at": AT + timedelta(microseconds=n)}
            for n in range(50)]
    with session_scope(engine) as session:
        prov_repo.add_provenance(session, rows)
    with engine.connect() as conn:
        stored = {r.id: r._asdict() for r in conn.execute(sa.select(prov_repo.PROVENANCE))}
    for row in rows:
        got = stored[str(row["id"])]
        for key in ("retrieved_at", "written_at"):
            got[key] = got[key].replace(tzinfo=UTC)
        assert got == row
