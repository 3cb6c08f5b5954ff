"""All SQL of spreadsheet import and export."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlmodel import Session

from services.dapodik_gateway.peserta_didik.models import PesertaDidikRow

PD: sa.Table = PesertaDidikRow.__table__  # type: ignore[assignment]


def school_students(session: Session, sekolah_id: str, *, lock: bool = False) -> list[sa.RowMapping]:
    """Every active student of the school, whole rows, in the export's order (name, then id); ``lock`` (an
    import): in id order, each row locked until the transaction ends (PostgreSQL)."""
    stmt = sa.select(PD).where(PD.c.sekolah_id == sekolah_id, PD.c.soft_delete.is_(False))
    stmt = (stmt.order_by(PD.c.peserta_didik_id).with_for_update() if lock
            else stmt.order_by(PD.c.nama, PD.c.peserta_didik_id))
    return list(session.execute(stmt).mappings().all())


def schools_of(session: Session, ids: Sequence[str]) -> dict[str, str]:
    """peserta_didik_id -> sekolah_id, for ids that exist anywhere."""
    out: dict[str, str] = {}
    for i in range(0, len(ids), 1000):
        stmt = sa.select(PD.c.peserta_didik_id, PD.c.sekolah_id).where(PD.c.peserta_didik_id.in_(ids[i:i + 1000]))
        out.update({pid: sid for pid, sid in session.execute(stmt).all()})
    return out
