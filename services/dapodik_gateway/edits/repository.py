"""All SQL of the school's changes to student records."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from services.dapodik_gateway import db
from services.dapodik_gateway.peserta_didik.models import PesertaDidikRow
from services.dapodik_gateway.results.models import ValueHistoryRow

PD: sa.Table = PesertaDidikRow.__table__  # type: ignore[assignment]
HISTORY: sa.Table = ValueHistoryRow.__table__  # type: ignore[assignment]


def insert(conn: Connection, rows: list[dict[str, Any]]) -> None:
    db.executemany(conn, sa.insert(PD), rows)


def update(conn: Connection, fields: Sequence[str], rows: list[dict[str, Any]]) -> None:
    """Set ``fields`` (and ``last_update``, ``change_seq``) of each row's student."""
    if not rows:
        return
    names = (*fields, "last_update", "change_seq")
    stmt = (sa.update(PD).where(PD.c.peserta_didik_id == sa.bindparam("b_id"))
            .values({f: sa.bindparam(f"b_{f}") for f in names}))
    db.executemany(conn, stmt, [{"b_id": r["peserta_didik_id"], **{f"b_{f}": r[f] for f in names}} for r in rows])


def add_history(conn: Connection, rows: list[dict[str, Any]]) -> None:
    db.executemany(conn, sa.insert(HISTORY), rows)
