from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlmodel import Session, select

from services.sync_hub.provenance.models import OutboxItemRow, ProvenanceRow
from shared import bulk
from shared.db import one_of

OUTBOX: sa.Table = OutboxItemRow.__table__  # type: ignore[assignment]
PROVENANCE: sa.Table = ProvenanceRow.__table__  # type: ignore[assignment]
_IN_LIST = 1000  # ids per UPDATE (bound as one parameter: ``shared.db.one_of``)


def add_outbox(session: Session, rows: list[dict[str, object]]) -> None:
    """Set-wise (``shared.bulk.insert``: COPY on PostgreSQL); every row has the keys of the first."""
    bulk.insert(session, OUTBOX, rows)


def add_outbox_columns(session: Session, names: Sequence[str], columns: Sequence[Sequence[object]]) -> None:
    """``add_outbox`` of rows given a column at a time (``shared.bulk.insert_columns``)."""
    bulk.insert_columns(session, OUTBOX, names, columns)


def settle_outbox(session: Session, updates: list[dict[str, object]]) -> None:
    """``updates``: dicts with ``b_id``, ``status``, ``detail``, ``sent_at``. One UPDATE per distinct answer
    (status, detail, time) and up to ``_IN_LIST`` ids, not one per row: a batch's answers are nearly all the same."""
    groups: dict[tuple[object, object, object], list[str]] = {}
    for u in updates:
        groups.setdefault((u["status"], u["detail"], u["sent_at"]), []).append(str(u["b_id"]))
    where, bind = one_of(session, OUTBOX.c.id, "ids")  # the ids bound as one parameter, not one each
    for (status, detail, sent_at), ids in groups.items():
        stmt = sa.update(OUTBOX).where(where).values(status=status, detail=detail, sent_at=sent_at)
        for start in range(0, len(ids), _IN_LIST):
            session.execute(stmt, {"ids": bind(ids[start:start + _IN_LIST])})


def add_provenance(session: Session, rows: list[dict[str, object]]) -> None:
    """Set-wise (``shared.bulk.insert``: COPY on PostgreSQL); every row has the keys of the first."""
    bulk.insert(session, PROVENANCE, rows)


def add_provenance_columns(session: Session, names: Sequence[str], columns: Sequence[Sequence[object]]) -> None:
    """``add_provenance`` of rows given a column at a time (``shared.bulk.insert_columns``)."""
    bulk.insert_columns(session, PROVENANCE, names, columns)


def for_target(session: Session, target_system: str, target_record: str) -> Sequence[ProvenanceRow]:
    query = (select(ProvenanceRow).where(ProvenanceRow.target_system == target_system)
             .where(ProvenanceRow.target_record == target_record)
             .order_by(ProvenanceRow.written_at, ProvenanceRow.field))  # type: ignore[arg-type]
    return session.exec(query).all()
