"""All SQL of the kehadiran domain."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlmodel import Session

from services.dapodik_gateway.kehadiran.models import KehadiranPdRow
from shared.kehadiran import rows_by_student

KEHADIRAN: sa.Table = KehadiranPdRow.__table__  # type: ignore[assignment]


def of_students(session: Session, peserta_didik_ids: Sequence[str]) -> dict[str, list[sa.RowMapping]]:
    """Every month of the students ``peserta_didik_ids``, oldest first (one statement per 1,000 students)."""
    return rows_by_student(session, KEHADIRAN, "peserta_didik_id", peserta_didik_ids)
