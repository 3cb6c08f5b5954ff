"""All SQL of duplicate detection: the identities of the active students, and a cheap data signature."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import sqlalchemy as sa
from sqlmodel import Session

from services.emis_gateway.madrasah.models import MadrasahRow
from services.emis_gateway.siswa.models import SiswaRow

SISWA: sa.Table = SiswaRow.__table__  # type: ignore[assignment]
MADRASAH: sa.Table = MadrasahRow.__table__  # type: ignore[assignment]

IDENTITY_COLUMNS = ("siswa_id", "nsm", "nik", "nama", "tanggal_lahir", "nama_ibu_kandung")
Identity = tuple[str, str, str | None, str, date, str]


def signature(session: Session) -> tuple[object, ...]:
    """Changes whenever a student is added, removed or its record changes (load, import, operator edit)."""
    return tuple(session.execute(sa.select(sa.func.count(), sa.func.max(SISWA.c.updated_at),
                                           sa.func.min(SISWA.c.siswa_id), sa.func.max(SISWA.c.siswa_id))).one())


def active_identities(session: Session) -> list[Identity]:
    stmt = sa.select(*(SISWA.c[name] for name in IDENTITY_COLUMNS)).where(SISWA.c.status_aktif.is_(True))
    return [tuple(row) for row in session.execute(stmt)]  # type: ignore[misc]


def students(session: Session, siswa_ids: Sequence[str]) -> list[SiswaRow]:
    if not siswa_ids:
        return []
    return list(session.execute(sa.select(SiswaRow).where(SISWA.c.siswa_id.in_(list(siswa_ids)))).scalars())


def madrasah_names(session: Session, nsms: Sequence[str]) -> dict[str, str]:
    if not nsms:
        return {}
    stmt = sa.select(MADRASAH.c.nsm, MADRASAH.c.nama).where(MADRASAH.c.nsm.in_(list(set(nsms))))
    return {nsm: nama for nsm, nama in session.execute(stmt)}
