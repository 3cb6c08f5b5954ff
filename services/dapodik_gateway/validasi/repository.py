"""All SQL of validation: the fields the rules read, the findings (``vld_peserta_didik``) and each
student's worst class (``peserta_didik.status_validasi``), replaced set-wise."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlmodel import Session

from services.dapodik_gateway import db, paging
from services.dapodik_gateway.peserta_didik.models import PesertaDidikRow
from services.dapodik_gateway.validasi.models import VldPesertaDidikRow
from shared.cursor import Cursor
from shared.db import built_once, each_key

PD: sa.Table = PesertaDidikRow.__table__  # type: ignore[assignment]
VLD: sa.Table = VldPesertaDidikRow.__table__  # type: ignore[assignment]
CHUNK = 1000


def records(conn: Connection, ids: Sequence[str], fields: Sequence[str]) -> list[sa.RowMapping]:
    stmt = sa.select(PD.c.peserta_didik_id, *(PD.c[f] for f in fields)).where(PD.c.peserta_didik_id.in_(ids))
    return list(conn.execute(stmt).mappings().all())


def pending_ids(conn: Connection, limit: int) -> list[str]:
    """Students not validated yet, locked in id order (PostgreSQL) as every writer locks students."""
    stmt = (sa.select(PD.c.peserta_didik_id).where(PD.c.status_validasi.is_(None))
            .order_by(PD.c.peserta_didik_id).limit(limit).with_for_update())
    return list(conn.execute(stmt).scalars().all())


def all_ids(conn: Connection) -> list[str]:
    return list(conn.execute(sa.select(PD.c.peserta_didik_id).order_by(PD.c.peserta_didik_id)).scalars().all())


def replace(conn: Connection, status: dict[str, int], findings: list[dict[str, Any]]) -> None:
    """Each student's findings replaced by ``findings`` and its worst class set to ``status[id]``."""
    ids = list(status)
    for i in range(0, len(ids), CHUNK):
        conn.execute(sa.delete(VLD).where(VLD.c.peserta_didik_id.in_(ids[i:i + CHUNK])))
    db.executemany(conn, sa.insert(VLD), findings)
    stmt = sa.update(PD).where(PD.c.peserta_didik_id == sa.bindparam("b_id")).values(
        status_validasi=sa.bindparam("b_status"))
    db.executemany(conn, stmt, [{"b_id": pid, "b_status": s} for pid, s in status.items()])


def students_with_findings(session: Session, sekolah_id: str, min_status: int, cursor: Cursor | None,
                           limit: int) -> list[sa.RowMapping]:
    """A school's active students whose worst finding is at least ``min_status``, in (last_update, id)
    order."""
    stmt = sa.select(PD.c.peserta_didik_id, PD.c.sekolah_id, PD.c.nipd, PD.c.nama, PD.c.status_validasi,
                     PD.c.last_update).where(PD.c.sekolah_id == sekolah_id, PD.c.soft_delete.is_(False),
                                             PD.c.status_validasi >= min_status)
    stmt = paging.after(stmt, PD.c.last_update, PD.c.peserta_didik_id, cursor, limit)
    return list(session.execute(stmt).mappings().all())


def student(session: Session, peserta_didik_id: str) -> sa.RowMapping | None:
    stmt = sa.select(PD.c.peserta_didik_id, PD.c.sekolah_id, PD.c.nipd, PD.c.nama, PD.c.status_validasi,
                     PD.c.last_update).where(PD.c.peserta_didik_id == peserta_didik_id,
                                             PD.c.soft_delete.is_(False))
    return session.execute(stmt).mappings().first()


def _findings_pg() -> sa.Select:  # type: ignore[type-arg]
    stmt = each_key(lambda key: sa.select(VLD).where(VLD.c.peserta_didik_id == key), "ids")
    return stmt.order_by(stmt.selected_columns.peserta_didik_id, stmt.selected_columns.logid)


def findings_part() -> tuple[sa.Select, tuple[str, ...]]:  # type: ignore[type-arg]
    """PostgreSQL: ``findings``' statement unordered, and its order, as a part of ``shared.db.together`` (the
    student ids bound as ``ids``, a JSON array of distinct ids)."""
    return _findings_pg().order_by(None), ("peserta_didik_id", "logid")


def findings(session: Session, ids: Sequence[str]) -> dict[str, list[sa.RowMapping]]:
    """The findings of each of ``ids`` in logid order (PostgreSQL: an index seek per student)."""
    out: dict[str, list[sa.RowMapping]] = defaultdict(list)
    if ids and session.get_bind().dialect.name == "postgresql":  # one index seek per student (shared.db.each_key)
        stmt = built_once("dapodik.findings", _findings_pg)
        for row in session.execute(stmt, {"ids": json.dumps(list(ids))}).mappings().all():
            out[row["peserta_didik_id"]].append(row)
        return out
    for i in range(0, len(ids), CHUNK):
        stmt = sa.select(VLD).where(VLD.c.peserta_didik_id.in_(ids[i:i + CHUNK])).order_by(
            VLD.c.peserta_didik_id, VLD.c.logid)
        for row in session.execute(stmt).mappings().all():
            out[row["peserta_didik_id"]].append(row)
    return out


def count_by_status(session: Session, sekolah_id: str) -> dict[int, int]:
    stmt = (sa.select(PD.c.status_validasi, sa.func.count()).where(PD.c.sekolah_id == sekolah_id,
                                                                    PD.c.soft_delete.is_(False))
            .group_by(PD.c.status_validasi))
    return {status: n for status, n in session.execute(stmt).all() if status is not None}

