from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlmodel import Session, func, select

from services.sync_hub.provenance.models import OutboxItemRow, ProvenanceRow


def add_outbox(session: Session, rows: list[dict[str, object]]) -> None:
    if rows:
        session.execute(sa.insert(OutboxItemRow), rows)


def settle_outbox(session: Session, updates: list[dict[str, object]]) -> None:
    """``updates``: dicts with ``b_id``, ``status``, ``detail``, ``sent_at``."""
    if updates:
        table = OutboxItemRow.__table__  # type: ignore[attr-defined]
        stmt = (sa.update(table).where(table.c.id == sa.bindparam("b_id"))
                .values(status=sa.bindparam("status"), detail=sa.bindparam("detail"), sent_at=sa.bindparam("sent_at")))
        session.connection().execute(stmt, updates)


def add_provenance(session: Session, rows: list[dict[str, object]]) -> None:
    if rows:
        session.execute(sa.insert(ProvenanceRow), rows)


def count_provenance(session: Session, run_id: str | None = None) -> int:
    query = select(func.count()).select_from(ProvenanceRow)
    if run_id:
        query = query.where(ProvenanceRow.sync_run_id == run_id)
    return int(session.exec(query).one())


def for_target(session: Session, target_system: str, target_record: str) -> Sequence[ProvenanceRow]:
    query = (select(ProvenanceRow).where(ProvenanceRow.target_system == target_system)
             .where(ProvenanceRow.target_record == target_record)
             .order_by(ProvenanceRow.written_at, ProvenanceRow.field))  # type: ignore[arg-type]
    return session.exec(query).all()
