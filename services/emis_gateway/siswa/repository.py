"""All SQL of the siswa domain."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session, col, select

from services.emis_gateway import paging
from services.emis_gateway.siswa.models import SiswaRow
from shared.cursor import Cursor


def page(session: Session, cursor: Cursor | None, limit: int, nsm: str | None = None) -> Sequence[SiswaRow]:
    stmt = select(SiswaRow)
    if nsm is not None:
        stmt = stmt.where(SiswaRow.nsm == nsm)
    stmt = paging.after(stmt, SiswaRow.updated_at, SiswaRow.siswa_id, cursor, limit)  # type: ignore[arg-type]
    return session.exec(stmt).all()


def get(session: Session, siswa_id: str) -> SiswaRow | None:
    return session.get(SiswaRow, siswa_id)


def get_many(session: Session, siswa_ids: Sequence[str], *, for_update: bool = False,
             chunk: int = 500) -> dict[str, SiswaRow]:
    """The students among ``siswa_ids`` that exist. ``for_update`` locks their rows (PostgreSQL) in id
    order, so two batches touching the same students wait for each other instead of deadlocking."""
    out: dict[str, SiswaRow] = {}
    unique = sorted(set(siswa_ids))
    for start in range(0, len(unique), chunk):
        part = unique[start:start + chunk]
        stmt = select(SiswaRow).where(col(SiswaRow.siswa_id).in_(part)).order_by(col(SiswaRow.siswa_id))
        if for_update:
            stmt = stmt.with_for_update()
        out.update({row.siswa_id: row for row in session.exec(stmt).all()})
    return out
