"""All SQL on ``sekolah`` (and the per-school student aggregates)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from services.dapodik_gateway import paging
from services.dapodik_gateway.peserta_didik.models import PesertaDidikRow
from services.dapodik_gateway.sekolah.models import SekolahRow
from shared.cursor import Cursor


def list_after(session: Session, cursor: Cursor | None, limit: int, npsn: str | None = None) -> list[SekolahRow]:
    stmt = select(SekolahRow).where(col(SekolahRow.soft_delete).is_(False))
    if npsn is not None:
        stmt = stmt.where(SekolahRow.npsn == npsn)
    stmt = paging.after(stmt, col(SekolahRow.last_update), col(SekolahRow.sekolah_id), cursor, limit)
    return list(session.exec(stmt).all())


def by_npsn(session: Session, npsn: str) -> SekolahRow | None:
    stmt = select(SekolahRow).where(SekolahRow.npsn == npsn, col(SekolahRow.soft_delete).is_(False))
    return session.exec(stmt).first()


def student_stats(session: Session, sekolah_ids: list[str]) -> dict[str, tuple[int, datetime | None]]:
    """sekolah_id -> (active students, the last time the hub applied a value to one of them)."""
    if not sekolah_ids:
        return {}
    stmt = (
        sa.select(PesertaDidikRow.sekolah_id, sa.func.count(), sa.func.max(PesertaDidikRow.last_sync))
        .where(col(PesertaDidikRow.sekolah_id).in_(sekolah_ids), col(PesertaDidikRow.soft_delete).is_(False))
        .group_by(PesertaDidikRow.sekolah_id)
    )
    return {sid: (n, last) for sid, n, last in session.execute(stmt).all()}


def npsn_of(session: Session, sekolah_ids: list[str]) -> dict[str, str]:
    """sekolah_id -> NPSN."""
    if not sekolah_ids:
        return {}
    stmt = sa.select(SekolahRow.sekolah_id, SekolahRow.npsn).where(col(SekolahRow.sekolah_id).in_(sekolah_ids))
    return {sid: npsn for sid, npsn in session.execute(stmt).all()}
