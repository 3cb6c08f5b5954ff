"""All SQL of the kehadiran domain."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlmodel import Session

from services.dapodik_gateway.kehadiran.models import KehadiranPdRow

KEHADIRAN: sa.Table = KehadiranPdRow.__table__  # type: ignore[assignment]
IN_CHUNK = 1000


def of_students(session: Session, peserta_didik_ids: Sequence[str]) -> dict[str, list[sa.RowMapping]]:
    """Every month of the students ``peserta_didik_ids``, oldest first (one statement per 1,000 students)."""
    out: dict[str, list[sa.RowMapping]] = {}
    ids = sorted(set(peserta_didik_ids))
    for start in range(0, len(ids), IN_CHUNK):
        stmt = (sa.select(KEHADIRAN).where(KEHADIRAN.c.peserta_didik_id.in_(ids[start:start + IN_CHUNK]))
                .order_by(KEHADIRAN.c.peserta_didik_id, KEHADIRAN.c.tahun, KEHADIRAN.c.bulan))
        for row in session.execute(stmt).mappings():
            out.setdefault(row["peserta_didik_id"], []).append(row)
    return out
