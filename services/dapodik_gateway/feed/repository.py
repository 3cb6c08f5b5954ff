"""SQL of the feed's tombstones: records in a range of the feed's order that the feed itself leaves out."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session

from services.dapodik_gateway import paging
from services.dapodik_gateway.peserta_didik.models import PesertaDidikRow

PD: sa.Table = PesertaDidikRow.__table__  # type: ignore[assignment]


def left_out_after(session: Session, after: paging.SeqCursor | None, upto: paging.SeqCursor | None, limit: int,
                   sekolah_id: str | None) -> list[sa.RowMapping]:
    """Records after ``after`` and up to ``upto`` (inclusive; None: to the end) in (change_seq, id) order that
    the feed leaves out — soft-deleted or not validated yet (a held-back record is in the feed) — at most
    ``limit + 1`` (one more tells whether more follow)."""
    stmt = sa.select(PD.c.peserta_didik_id, PD.c.change_seq, PD.c.status_validasi, PD.c.soft_delete).where(
        sa.or_(PD.c.soft_delete.is_(True), PD.c.status_validasi.is_(None)))
    if sekolah_id is not None:
        stmt = stmt.where(PD.c.sekolah_id == sekolah_id)
    if upto is not None:
        stmt = stmt.where(sa.or_(PD.c.change_seq < upto.seq,
                                 sa.and_(PD.c.change_seq == upto.seq, PD.c.peserta_didik_id <= upto.key)))
    stmt = paging.after_seq(stmt, PD.c.change_seq, PD.c.peserta_didik_id, after, limit)
    return list(session.execute(stmt).mappings().all())


def feed_end(session: Session) -> tuple[paging.SeqCursor | None, int]:
    """The last position in (change_seq, id) order of any record (in the feed or left out of it), and how many
    records the feed holds."""
    seq = session.execute(sa.select(sa.func.max(PD.c.change_seq))).scalar()
    count = session.execute(sa.select(sa.func.count()).select_from(PD).where(
        PD.c.soft_delete.is_(False), PD.c.status_validasi.is_not(None))).scalar_one()
    if seq is None:
        return None, int(count)
    key = session.execute(sa.select(sa.func.max(PD.c.peserta_didik_id)).where(PD.c.change_seq == seq)).scalar()
    return paging.SeqCursor(seq, key or ""), int(count)
