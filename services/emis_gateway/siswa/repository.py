"""All SQL of the siswa domain."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session, select

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


def get_many(session: Session, siswa_ids: Sequence[str], chunk: int = 500) -> dict[str, SiswaRow]:
    out: dict[str, SiswaRow] = {}
    unique = list(dict.fromkeys(siswa_ids))
    for start in range(0, len(unique), chunk):
        part = unique[start:start + chunk]
        stmt = select(SiswaRow).where(SiswaRow.siswa_id.in_(part))  # type: ignore[attr-defined]
        out.update({row.siswa_id: row for row in session.exec(stmt).all()})
    return out
