"""All SQL on ``peserta_didik``."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from services.dapodik_gateway import paging
from services.dapodik_gateway.peserta_didik.models import PesertaDidikRow
from shared.cursor import Cursor
from shared.inbound import FieldValue


def list_after(session: Session, cursor: Cursor | None, limit: int, sekolah_id: str | None = None
               ) -> list[PesertaDidikRow]:
    stmt = select(PesertaDidikRow).where(col(PesertaDidikRow.soft_delete).is_(False))
    if sekolah_id is not None:
        stmt = stmt.where(PesertaDidikRow.sekolah_id == sekolah_id)
    stmt = paging.after(stmt, col(PesertaDidikRow.last_update), col(PesertaDidikRow.peserta_didik_id),
                        cursor, limit)
    return list(session.exec(stmt).all())


def get(session: Session, peserta_didik_id: str, *, for_update: bool = False) -> PesertaDidikRow | None:
    """An active student; ``for_update`` locks the row (PostgreSQL) so concurrent batches queue on it."""
    stmt = select(PesertaDidikRow).where(PesertaDidikRow.peserta_didik_id == peserta_didik_id,
                                         col(PesertaDidikRow.soft_delete).is_(False))
    if for_update:
        stmt = stmt.with_for_update()
    return session.exec(stmt).first()


def write_hub_values(session: Session, row: PesertaDidikRow, changes: dict[str, FieldValue], at: datetime) -> None:
    """Set hub-written values and ``last_sync``; ``last_update`` stays (a hub write is not a record change)."""
    for name, value in changes.items():
        setattr(row, name, value)
    row.last_sync = at
    session.add(row)
    session.flush()
