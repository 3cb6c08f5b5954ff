"""All SQL of the world loader: bulk inserts with SQLAlchemy Core, clearing, key checks in chunks."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import Table, bindparam, delete, select, update
from sqlmodel import Session

from services.kemensos_mock.kip.models import KipRow
from services.kemensos_mock.registry.models import AnggotaRow, BansosRow, KeluargaRow, KkLamaRow, PkhRow
from shared import bulk


def table(model: type[Any]) -> Table:
    t: Table = model.__table__
    return t


KELUARGA, ANGGOTA, PKH, KIP = table(KeluargaRow), table(AnggotaRow), table(PkhRow), table(KipRow)
BANSOS, KK_LAMA = table(BansosRow), table(KkLamaRow)


def is_empty(session: Session) -> bool:
    return all(session.execute(select(t.c.id).limit(1)).first() is None for t in (KELUARGA, KIP))


def clear(session: Session) -> None:
    """Delete every registry row (children first). The sequence keeps counting: versions handed out
    before are never handed out again."""
    for t in (PKH, BANSOS, ANGGOTA, KK_LAMA, KELUARGA, KIP):
        session.execute(delete(t))


insert_rows = bulk.insert  # a chunk of rows in one go (COPY on PostgreSQL, one executemany on SQLite)


def existing(session: Session, column: Any, values: Collection[str]) -> set[str]:
    """Which of ``values`` the column already holds (one IN query per chunk)."""
    if not values:
        return set()
    return set(session.execute(select(column).where(column.in_(list(values)))).scalars())


def existing_pkh_periods(session: Session, no_kks: Collection[str]) -> set[tuple[str, int, int]]:
    if not no_kks:
        return set()
    stmt = select(PKH.c.no_kk, PKH.c.tahun, PKH.c.tahap).where(PKH.c.no_kk.in_(list(no_kks)))
    return {(r.no_kk, r.tahun, r.tahap) for r in session.execute(stmt)}


def wilayah_of(session: Session, no_kks: Collection[str]) -> dict[str, str]:
    """kode_wilayah of each stored family in ``no_kks``."""
    if not no_kks:
        return {}
    stmt = select(KELUARGA.c.no_kk, KELUARGA.c.kode_wilayah).where(KELUARGA.c.no_kk.in_(list(no_kks)))
    return {r.no_kk: r.kode_wilayah for r in session.execute(stmt)}


def existing_bansos_periods(session: Session, no_kks: Collection[str]) -> set[tuple[str, str, int, int]]:
    if not no_kks:
        return set()
    stmt = (select(BANSOS.c.no_kk, BANSOS.c.program, BANSOS.c.tahun, BANSOS.c.tahap)
            .where(BANSOS.c.no_kk.in_(list(no_kks))))
    return {(r.no_kk, r.program, r.tahun, r.tahap) for r in session.execute(stmt)}


def families_by_kk(session: Session, no_kks: Collection[str]) -> dict[str, tuple[int, int]]:
    """KK number -> (id, version) of the families holding those numbers."""
    if not no_kks:
        return {}
    stmt = select(KELUARGA.c.no_kk, KELUARGA.c.id, KELUARGA.c.version).where(KELUARGA.c.no_kk.in_(list(no_kks)))
    return {r.no_kk: (r.id, r.version) for r in session.execute(stmt)}


def set_split_origins(session: Session, splits: Sequence[dict[str, str]]) -> None:
    """``asal_no_kk`` of families that split off (one executemany)."""
    if splits:
        stmt = update(KELUARGA).where(KELUARGA.c.no_kk == bindparam("kk")).values(asal_no_kk=bindparam("asal"))
        session.connection().execute(stmt, list(splits))
