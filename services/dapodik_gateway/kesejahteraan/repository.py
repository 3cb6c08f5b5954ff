"""All SQL on ``kesejahteraan_pd``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlmodel import Session

from services.dapodik_gateway import db
from services.dapodik_gateway.kesejahteraan.models import KesejahteraanPdRow
from services.dapodik_gateway.peserta_didik.models import PesertaDidikRow

ROWS: sa.Table = KesejahteraanPdRow.__table__  # type: ignore[assignment]
PD: sa.Table = PesertaDidikRow.__table__  # type: ignore[assignment]
CHUNK = 1000


COMPARED = ("id_sejahtera_pd", "nomor", "nm_di_kartu", "dari_tahun", "sampai_tahun", "asal_data")


def existing(conn: Connection, ids: Sequence[str]) -> dict[tuple[str, int], dict[str, Any]]:
    """(student, programme) -> the row's columns that reconciling compares and keeps."""
    out: dict[tuple[str, int], dict[str, Any]] = {}
    cols = [ROWS.c[c] for c in COMPARED]
    for i in range(0, len(ids), CHUNK):
        stmt = sa.select(ROWS.c.peserta_didik_id, ROWS.c.jenis_kesejahteraan_id, *cols).where(
            ROWS.c.peserta_didik_id.in_(ids[i:i + CHUNK]))
        for pid, jenis, *values in conn.execute(stmt).all():
            out[(pid, jenis)] = dict(zip(COMPARED, values, strict=True))
    return out


def records(conn: Connection, ids: Sequence[str], fields: Sequence[str]) -> list[sa.RowMapping]:
    out: list[sa.RowMapping] = []
    for i in range(0, len(ids), CHUNK):
        stmt = sa.select(PD.c.peserta_didik_id, *(PD.c[f] for f in fields)).where(
            PD.c.peserta_didik_id.in_(ids[i:i + CHUNK]))
        out += conn.execute(stmt).mappings().all()
    return out


def write(conn: Connection, inserts: list[dict[str, Any]], updates: list[dict[str, Any]]) -> None:
    db.bulk_insert(conn, ROWS, inserts)
    stmt = sa.update(ROWS).where(ROWS.c.id_sejahtera_pd == sa.bindparam("b_id")).values(
        nomor=sa.bindparam("b_nomor"), nm_di_kartu=sa.bindparam("b_nm"), dari_tahun=sa.bindparam("b_dari"),
        sampai_tahun=sa.bindparam("b_sampai"), asal_data=sa.bindparam("b_asal"), last_update=sa.bindparam("b_at"))
    db.executemany(conn, stmt, [{"b_id": u["id_sejahtera_pd"], "b_nomor": u["nomor"], "b_nm": u["nm_di_kartu"],
                                 "b_dari": u["dari_tahun"], "b_sampai": u["sampai_tahun"], "b_asal": u["asal_data"],
                                 "b_at": u["last_update"]} for u in updates])


def missing(conn: Connection, limit: int) -> list[str]:
    """Students whose record calls for a programme row but who have none (rows that existed before
    kesejahteraan_pd did), locked in id order (PostgreSQL) as every writer locks students."""
    has_row = sa.select(ROWS.c.id_sejahtera_pd).where(ROWS.c.peserta_didik_id == PD.c.peserta_didik_id).exists()
    stmt = sa.select(PD.c.peserta_didik_id).where(
        sa.or_(PD.c.penerima_kip.is_(True), PD.c.penerima_kps.is_(True),
               sa.and_(PD.c.no_kks.is_not(None), PD.c.no_kks != "")), ~has_row)
    stmt = stmt.order_by(PD.c.peserta_didik_id).limit(limit).with_for_update(of=PD)
    return list(conn.execute(stmt).scalars().all())


def of_student(session: Session, peserta_didik_id: str) -> list[sa.RowMapping]:
    stmt = sa.select(ROWS).where(ROWS.c.peserta_didik_id == peserta_didik_id).order_by(ROWS.c.jenis_kesejahteraan_id)
    return list(session.execute(stmt).mappings().all())
