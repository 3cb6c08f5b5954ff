"""All SQL of the kehadiran domain."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlmodel import Session

from services.emis_gateway.kehadiran.models import KehadiranSiswaRow

KEHADIRAN: sa.Table = KehadiranSiswaRow.__table__  # type: ignore[assignment]


def of_students(session: Session, siswa_ids: Sequence[str], chunk: int = 1000) -> dict[str, list[sa.RowMapping]]:
    """Every month of the students ``siswa_ids``, oldest first."""
    out: dict[str, list[sa.RowMapping]] = {}
    ids = sorted(set(siswa_ids))
    for start in range(0, len(ids), chunk):
        stmt = (sa.select(KEHADIRAN).where(KEHADIRAN.c.siswa_id.in_(ids[start:start + chunk]))
                .order_by(KEHADIRAN.c.siswa_id, KEHADIRAN.c.tahun, KEHADIRAN.c.bulan))
        for row in session.execute(stmt).mappings():
            out.setdefault(row["siswa_id"], []).append(row)
    return out
