"""All SQL of checks: the audit rows, the outcomes and the provenance of the items returned, in one insert
each (the caller holds one short write transaction)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from services.sync_hub.checks.models import CheckOutcomeRow, CheckRow
from services.sync_hub.ledger.repository import FEW_ROWS, Head, copy_rows, json_dicts, lock_head_after, sqlite_value
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
           provenance: list[dict[str, Any]], refetch: list[dict[str, Any]], lock_ledger: bool = False
           ) -> Head | None:
    """The check's rows, straight through the driver (``ledger.repository.copy_rows``: COPY on PostgreSQL, one
    ``executemany`` of plain tuples on SQLite; the columns are strings, integers and UTC times): a check writes a
    handful of rows, where SQLAlchemy's statement and parameter processing cost more than the writes. On
    PostgreSQL, up to ``FEW_ROWS`` outcomes and provenance rows: all of it in ONE statement (data-modifying CTEs,
    each table's rows one JSON parameter), one round trip instead of four; with ``lock_ledger``, the same statement
    then takes the ledger's lock and returns its head (``ledger.repository.lock_head_after``: the caller appends
    next, ``ledger.append_provenance(..., locked=head)``). None: the ledger was not locked (the caller's append
    locks it)."""
    conn = session.connection()
    if (conn.dialect.name == "postgresql" and len(outcomes) <= FEW_ROWS and len(provenance) <= FEW_ROWS
            and len(refetch) <= FEW_ROWS):
        return _record_in_one(conn, check, outcomes, provenance, refetch, lock_ledger)
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
    return None


def _record_in_one(conn: sa.Connection, check: dict[str, Any], outcomes: list[dict[str, Any]],
                   provenance: list[dict[str, Any]], refetch: list[dict[str, Any]], lock_ledger: bool
                   ) -> Head | None:
    """``record`` on PostgreSQL in one statement: each insert a data-modifying CTE reading its rows from one JSON
    parameter (``json_populate_recordset``; the outcomes' foreign key is checked at the statement's end, after the
    check's row is in), the refetch upsert in (system, student_id) order by code point, as ``sorted`` orders them
    elsewhere (one lock order: concurrent checks never deadlock)."""
    parts: list[str] = []
    params: list[str] = []
    for table, columns, rows in ((CHECK, CHECK_COLUMNS, [check]), (OUTCOME, OUTCOME_COLUMNS, outcomes),
                                 (PROVENANCE, PROVENANCE_COLUMNS, provenance)):
        if rows:
            names = ", ".join(columns)
            parts.append(f"INSERT INTO {table.name} ({names}) SELECT {names} "
                         f"FROM json_populate_recordset(NULL::{table.name}, %s::json)")
            params.append(json_dicts(rows))  # the rows' dicts hold exactly the table's columns
    if refetch:
        parts.append(f"INSERT INTO {REFETCH.name} (system, student_id, requested_at) "
                     f"SELECT system, student_id, requested_at FROM json_populate_recordset(NULL::{REFETCH.name}, "
                     '%s::json) ORDER BY system COLLATE "C", student_id COLLATE "C" '
                     "ON CONFLICT (system, student_id) DO UPDATE SET requested_at = excluded.requested_at")
        params.append(json_dicts(refetch))
    if lock_ledger:  # every insert a CTE read to its end before the head's lock is taken
        parts = [f"{p} RETURNING 1" for p in parts]
        parts.append(lock_head_after([f"w{i}" for i in range(len(parts))]))
    sql = "".join(f"WITH w{i} AS ({p}), " if i == 0 else f"w{i} AS ({p}), " for i, p in enumerate(parts[:-1]))
    sql = (sql[:-2] + " " if sql else "") + parts[-1]
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql, params)
        if not lock_ledger:
            return None
        rows = cursor.fetchall()
    finally:
        cursor.close()
    if len(rows) != 1:
        raise sa.exc.NoResultFound("the ledger has no head row")
    return Head(*rows[0])


def get(session: Session, check_id: str) -> CheckRow | None:
    return session.get(CheckRow, check_id)


def outcomes(session: Session, check_id: str) -> list[CheckOutcomeRow]:
    stmt = sa.select(CheckOutcomeRow).where(OUTCOME.c.check_id == check_id).order_by(OUTCOME.c.student_id)
    return list(session.scalars(stmt))
