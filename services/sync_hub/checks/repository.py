"""All SQL of checks: the audit rows, the outcomes and the provenance of the items returned, in one insert
each (the caller holds one short write transaction)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from services.sync_hub.checks.models import CheckOutcomeRow, CheckRow
from services.sync_hub.mirror.models import MirrorRefetchRow
from services.sync_hub.provenance.models import ProvenanceRow

CHECK: sa.Table = CheckRow.__table__  # type: ignore[assignment]
OUTCOME: sa.Table = CheckOutcomeRow.__table__  # type: ignore[assignment]
PROVENANCE: sa.Table = ProvenanceRow.__table__  # type: ignore[assignment]
REFETCH: sa.Table = MirrorRefetchRow.__table__  # type: ignore[assignment]


def record(session: Session, check: dict[str, Any], outcomes: list[dict[str, Any]],
           provenance: list[dict[str, Any]], refetch: list[dict[str, Any]]) -> None:
    session.execute(sa.insert(CHECK), [check])
    if outcomes:
        session.execute(sa.insert(OUTCOME), outcomes)
    if provenance:
        session.execute(sa.insert(PROVENANCE), provenance)
    if refetch:  # the next sync run reads these students again (the check's values are not in its copy)
        refetch = sorted(refetch, key=lambda r: r["student_id"])  # one lock order: concurrent checks never deadlock
        dialect = session.get_bind().dialect.name
        insert = (sa.dialects.postgresql.insert(REFETCH) if dialect == "postgresql"
                  else sa.dialects.sqlite.insert(REFETCH))
        session.execute(insert.on_conflict_do_update(
            index_elements=["system", "student_id"], set_={"requested_at": insert.excluded.requested_at}), refetch)


def get(session: Session, check_id: str) -> CheckRow | None:
    return session.get(CheckRow, check_id)


def outcomes(session: Session, check_id: str) -> list[CheckOutcomeRow]:
    stmt = sa.select(CheckOutcomeRow).where(OUTCOME.c.check_id == check_id).order_by(OUTCOME.c.student_id)
    return list(session.scalars(stmt))
