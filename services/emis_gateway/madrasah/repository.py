"""All SQL of the madrasah domain."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from services.emis_gateway import paging
from services.emis_gateway.madrasah.models import MADRASAH, PESANTREN, MadrasahRow
from services.emis_gateway.siswa.models import SiswaRow
from shared.cursor import Cursor


@dataclass(frozen=True, slots=True)
class StudentStats:
    jumlah_siswa: int = 0
    last_sync: datetime | None = None


def page(session: Session, cursor: Cursor | None, limit: int, scope: frozenset[str] | None = None,
         jenis: str = MADRASAH) -> Sequence[MadrasahRow]:
    stmt = select(MadrasahRow).where(MadrasahRow.jenis_lembaga == jenis)
    if scope is not None:
        stmt = stmt.where(col(MadrasahRow.nsm).in_(sorted(scope)))
    stmt = paging.after(stmt, MadrasahRow.updated_at, MadrasahRow.nsm,  # type: ignore[arg-type]
                        cursor, limit)
    return session.exec(stmt).all()


def get(session: Session, nsm: str, jenis: str | None = None, *, lock: bool = False) -> MadrasahRow | None:
    """The institution numbered ``nsm`` (NSM or NSPP); with ``jenis``, only of that kind. ``lock``: its row is
    locked until the transaction ends (PostgreSQL), so writers of its student list take turns."""
    row = session.get(MadrasahRow, nsm, with_for_update=lock)
    return row if row is not None and (jenis is None or row.jenis_lembaga == jenis) else None


def pesantren_among(session: Session, numbers: Sequence[str]) -> set[str]:
    """Which of ``numbers`` are pesantren (NSPP)."""
    if not numbers:
        return set()
    stmt = select(MadrasahRow.nsm).where(col(MadrasahRow.nsm).in_(sorted(set(numbers))),
                                         MadrasahRow.jenis_lembaga == PESANTREN)
    return set(session.exec(stmt).all())


def student_stats(session: Session, nsms: Sequence[str]) -> dict[str, StudentStats]:
    """Number of students and the latest hub write among them, per madrasah (max() keeps the column type)."""
    if not nsms:
        return {}
    stmt = (select(SiswaRow.nsm, func.count(), func.max(SiswaRow.last_sync))
            .where(SiswaRow.nsm.in_(nsms))  # type: ignore[attr-defined]
            .group_by(SiswaRow.nsm))
    out: dict[str, StudentStats] = {}
    for nsm, count, last_sync in session.exec(stmt).all():
        out[nsm] = StudentStats(int(count), last_sync)
    return out

