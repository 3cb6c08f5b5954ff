"""All SQL of checks: the audit rows, the outcomes and the provenance of the items returned, in one insert
each (the caller holds one short write transaction)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from services.sync_hub.checks.models import CheckOutcomeRow, CheckRow
from services.sync_hub.ledger.repository import copy_rows, sqlite_value
from services.sync_hub.mirror.models import MirrorRefetchRow
from services.sync_hub.provenance.models import ProvenanceRow

CHECK: sa.Table = CheckRow.__table__  # type: ignore[assignment]
OUTCOME: sa.Table = CheckOutcomeRow.__table__  # type: ignore[assignment]
PROVENANCE: sa.Table = ProvenanceRow.__table__  # type: ignore[assignment]
REFETCH: sa.Table = MirrorRefetchRow.__table__  # type: ignore[assignment]


CHECK_COLUMNS = ("id", "system", "client", "created_at", "observed_seq", "students", "items")
OUTCOME_COLUMNS = ("check_id", "student_id", "outcome", "matched_by", "detail")
PROVENANCE_COLUMNS = ("id", "provenance_id", "sync_run_id", "target_system", "target_record", "field", "value_json",
                      "source_system", "source_record", "source_version", "observed_seq", "retrieved_at",
                      "matched_by", "written_at")


def record(session: Session, check: dict[str, Any], outcomes: list[dict[str, Any]],
           provenance: list[dict[str, Any]], refetch: list[dict[str, Any]]) -> None:
    """The check's rows, straight through the driver (``ledger.repository.copy_rows``: COPY on PostgreSQL, one
    ``executemany`` of plain tuples on SQLite; the columns are strings, integers and UTC times): a check writes a
    handful of rows, where SQLAlchemy's statement and parameter processing cost more than the writes."""
    copy_rows(session, CHECK, CHECK_COLUMNS, [tuple(check[c] for c in CHECK_COLUMNS)])
    copy_rows(session, OUTCOME, OUTCOME_COLUMNS, [tuple(o[c] for c in OUTCOME_COLUMNS) for o in outcomes])
    copy_rows(session, PROVENANCE, PROVENANCE_COLUMNS, [tuple(p[c] for c in PROVENANCE_COLUMNS) for p in provenance])
    if refetch:  # the next sync run reads these students again (the check's values are not in its copy)
        # one lock order: concurrent checks never deadlock
        rows = sorted((r["system"], r["student_id"], r["requested_at"]) for r in refetch)
        conn = session.connection()
        postgres = conn.dialect.name == "postgresql"
        marks = "%s, %s, %s" if postgres else "?, ?, ?"
        if not postgres:
            rows = [(a, b, sqlite_value(t)) for a, b, t in rows]
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(f"INSERT INTO {REFETCH.name} (system, student_id, requested_at) VALUES ({marks}) "
                               "ON CONFLICT (system, student_id) DO UPDATE SET requested_at = excluded.requested_at",
                               rows)
        finally:
            cursor.close()


def get(session: Session, check_id: str) -> CheckRow | None:
    return session.get(CheckRow, check_id)


def outcomes(session: Session, check_id: str) -> list[CheckOutcomeRow]:
    stmt = sa.select(CheckOutcomeRow).where(OUTCOME.c.check_id == check_id).order_by(OUTCOME.c.student_id)
    return list(session.scalars(stmt))
