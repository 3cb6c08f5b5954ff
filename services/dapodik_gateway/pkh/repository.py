"""SQL of Request Data PKH: the school region the hub blocks by."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session

from services.dapodik_gateway.sekolah.models import SekolahRow

SEKOLAH: sa.Table = SekolahRow.__table__  # type: ignore[assignment]


def region_of(session: Session, sekolah_id: str) -> str | None:
    stmt = sa.select(SEKOLAH.c.kode_wilayah).where(SEKOLAH.c.sekolah_id == sekolah_id)
    return session.execute(stmt).scalar_one_or_none()
