"""All SQL of the kehadiran domain."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlmodel import Session

from services.dapodik_gateway import db
from services.dapodik_gateway.kehadiran.models import KehadiranPdRow
from services.dapodik_gateway.peserta_didik.models import PesertaDidikRow
from shared import kehadiran
from shared.kehadiran import rows_by_student

KEHADIRAN: sa.Table = KehadiranPdRow.__table__  # type: ignore[assignment]
PD: sa.Table = PesertaDidikRow.__table__  # type: ignore[assignment]


def of_students(session: Session, peserta_didik_ids: Sequence[str]) -> dict[str, list[sa.RowMapping]]:
    """Every month of the students ``peserta_didik_ids``, oldest first (one statement per 1,000 students)."""
    return rows_by_student(session, KEHADIRAN, "peserta_didik_id", peserta_didik_ids)


def students_of(session: Session, sekolah_id: str, *, lock: bool = False) -> list[sa.RowMapping]:
    """Every student of the school (not soft-deleted) with what the attendance files show of it, in the form's
    order (level, name, id). ``lock`` (an import, after the change counter): the rows are locked in id order on
    PostgreSQL, as every writer locks them, so two imports of one school take turns instead of both inserting
    the same month."""
    p = PD
    stmt = (sa.select(p.c.peserta_didik_id, p.c.nisn, p.c.nik, p.c.nama, p.c.tingkat_pendidikan_id,
                      p.c.jenis_keluar_id, p.c.tanggal_keluar, p.c.nik_ibu, p.c.nama_ibu_kandung, p.c.nik_wali,
                      p.c.nama_wali)
            .where(p.c.sekolah_id == sekolah_id, p.c.soft_delete.is_(False)))
    stmt = (stmt.order_by(p.c.peserta_didik_id).with_for_update() if lock
            else stmt.order_by(p.c.tingkat_pendidikan_id, p.c.nama, p.c.peserta_didik_id))
    return list(session.execute(stmt).mappings())


def held(session: Session, ids: Sequence[str], months: Sequence[tuple[int, int]]) -> list[sa.RowMapping]:
    """The stored months among ``months`` of the students ``ids``."""
    return kehadiran.stored_months(session, KEHADIRAN, "peserta_didik_id", ids, months)


def insert_months(conn: Connection, rows: list[dict[str, Any]]) -> None:
    db.executemany(conn, sa.insert(KEHADIRAN), rows)


def update_months(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Each row: ``b_id``, ``b_tahun``, ``b_bulan`` and the counts (and ``last_update``) to set."""
    k = KEHADIRAN
    db.executemany(conn, sa.update(k).where(k.c.peserta_didik_id == sa.bindparam("b_id"),
                                            k.c.tahun == sa.bindparam("b_tahun"),
                                            k.c.bulan == sa.bindparam("b_bulan")), rows)


def mark_changed(conn: Connection, ids: Sequence[str], at: datetime, seq: int) -> None:
    """Students whose attendance changed: ``last_update`` and ``change_seq`` move (the hub's feed)."""
    db.executemany(conn, sa.update(PD).where(PD.c.peserta_didik_id == sa.bindparam("b_id"))
                   .values(last_update=sa.bindparam("b_at"), change_seq=sa.bindparam("b_seq")),
                   [{"b_id": pid, "b_at": at, "b_seq": seq} for pid in ids])
