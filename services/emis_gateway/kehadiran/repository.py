"""All SQL of the kehadiran domain."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlmodel import Session

from services.emis_gateway.kehadiran.models import KehadiranSiswaRow
from shared.kehadiran import rows_by_student

KEHADIRAN: sa.Table = KehadiranSiswaRow.__table__  # type: ignore[assignment]


def of_students(session: Session, siswa_ids: Sequence[str]) -> dict[str, list[sa.RowMapping]]:
    """Every month of the students ``siswa_ids``, oldest first (one statement per 1,000 students)."""
    return rows_by_student(session, KEHADIRAN, "siswa_id", siswa_ids)
