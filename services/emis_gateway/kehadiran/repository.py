"""All SQL of the kehadiran domain."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from services.emis_gateway.kehadiran.models import KehadiranSiswaRow
from services.emis_gateway.siswa.models import SiswaRow
from shared import kehadiran
from shared.bulk import executemany
from shared.kehadiran import rows_by_student

KEHADIRAN: sa.Table = KehadiranSiswaRow.__table__  # type: ignore[assignment]
SISWA: sa.Table = SiswaRow.__table__  # type: ignore[assignment]


def of_students(session: Session, siswa_ids: Sequence[str]) -> dict[str, list[sa.RowMapping]]:
    """Every month of the students ``siswa_ids``, oldest first (one statement per 1,000 students)."""
    return rows_by_student(session, KEHADIRAN, "siswa_id", siswa_ids)


def students_of(session: Session, nsm: str, *, lock: bool = False) -> list[sa.RowMapping]:
    """Every student of the madrasah with what the attendance files show of it, in the form's order (level,
    name, id). ``lock`` (an import): the rows are locked in id order on PostgreSQL, so two imports of one
    madrasah take turns instead of both inserting the same month (SQLite: the write lock is taken at BEGIN)."""
    s = SISWA
    stmt = (sa.select(s.c.siswa_id, s.c.nisn, s.c.nik, s.c.nama, s.c.tingkat, s.c.status_aktif, s.c.tanggal_keluar,
                      s.c.nik_ibu, s.c.nama_ibu_kandung, s.c.nik_wali, s.c.nama_wali).where(s.c.nsm == nsm))
    stmt = (stmt.order_by(s.c.siswa_id).with_for_update() if lock
            else stmt.order_by(s.c.tingkat, s.c.nama, s.c.siswa_id))
    return list(session.execute(stmt).mappings())


def held(session: Session, siswa_ids: Sequence[str], months: Sequence[tuple[int, int]]) -> list[sa.RowMapping]:
    """The stored months among ``months`` of the students ``siswa_ids``."""
    return kehadiran.stored_months(session, KEHADIRAN, "siswa_id", siswa_ids, months)


def insert_months(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    executemany(session, sa.insert(KEHADIRAN), rows)


def update_months(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    """Each row: ``b_siswa_id``, ``b_tahun``, ``b_bulan`` and the counts (and ``updated_at``) to set."""
    k = KEHADIRAN
    executemany(session, sa.update(k).where(k.c.siswa_id == sa.bindparam("b_siswa_id"),
                                            k.c.tahun == sa.bindparam("b_tahun"),
                                            k.c.bulan == sa.bindparam("b_bulan")), rows)


def touch_students(session: Session, siswa_ids: Sequence[str], at: datetime) -> None:
    """The students' record changed (its attendance): ``updated_at`` moves, so they move in the hub's feed."""
    executemany(session, sa.update(SISWA).where(SISWA.c.siswa_id == sa.bindparam("b_siswa_id")),
                [{"b_siswa_id": sid, "updated_at": at} for sid in siswa_ids])
