"""SQL of Request Data PKH: the student's record with the school region the hub blocks by."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from services.dapodik_gateway.peserta_didik.repository import PESERTA_DIDIK, read_model_part_list
from services.dapodik_gateway.sekolah.models import SekolahRow
from shared.db import apart, built_once, together

SEKOLAH: sa.Table = SekolahRow.__table__  # type: ignore[assignment]
REGION = "kode_wilayah_sekolah"  # the school's region, as the record's row names it here


# built once per process (a statement built per call costs its construction and its cache key every time)
_RECORD_WITH_REGION = (
    sa.select(PESERTA_DIDIK, SEKOLAH.c.kode_wilayah.label(REGION))
    .select_from(PESERTA_DIDIK.outerjoin(SEKOLAH, SEKOLAH.c.sekolah_id == PESERTA_DIDIK.c.sekolah_id))
    .where(PESERTA_DIDIK.c.peserta_didik_id == sa.bindparam("b_peserta_didik_id"),
           PESERTA_DIDIK.c.soft_delete.is_(False)))


def record_with_region(session: Session, peserta_didik_id: str) -> sa.RowMapping | None:
    """One active student as a plain row (as ``peserta_didik.repository.record`` reads it) with its school's region
    under ``REGION`` (None when the school is unknown): one statement."""
    return session.execute(_RECORD_WITH_REGION, {"b_peserta_didik_id": peserta_didik_id}).mappings().first()


def _record_with_read_model() -> sa.Select:  # type: ignore[type-arg]
    return together((_RECORD_WITH_REGION, ()), *read_model_part_list())


def record_with_read_model(session: Session, peserta_didik_id: str
                           ) -> tuple[dict[str, Any] | None, list[dict[str, Any]], list[dict[str, Any]],
                                      list[dict[str, Any]]]:
    """PostgreSQL only: ``record_with_region`` and what ``peserta_didik.repository.read_model_parts`` reads for the
    student, in one statement (``shared.db.together``; a press's reads in one round trip instead of two): the row
    (None when there is no such active student) and the provenance, months and findings rows
    (``peserta_didik.service.from_parts`` makes the read model of them)."""
    stmt = built_once("dapodik.record_with_read_model", _record_with_read_model)
    rows = session.execute(stmt, {"b_peserta_didik_id": peserta_didik_id, "ids": json.dumps([peserta_didik_id])})
    record, provenance, months, found = apart(stmt, rows.all())
    return (record[0] if record else None), provenance, months, found


_RECORDS_WITH_REGION = (
    sa.select(PESERTA_DIDIK, SEKOLAH.c.kode_wilayah.label(REGION))
    .select_from(PESERTA_DIDIK.outerjoin(SEKOLAH, SEKOLAH.c.sekolah_id == PESERTA_DIDIK.c.sekolah_id))
    .where(PESERTA_DIDIK.c.peserta_didik_id.in_(sa.bindparam("b_peserta_didik_ids", expanding=True)),
           PESERTA_DIDIK.c.soft_delete.is_(False)))


def records_with_region(session: Session, peserta_didik_ids: list[str]) -> dict[str, sa.RowMapping]:
    """``record_with_region`` of several students in one statement (at most a check's 100): the active ones."""
    if not peserta_didik_ids:
        return {}
    rows = session.execute(_RECORDS_WITH_REGION, {"b_peserta_didik_ids": sorted(set(peserta_didik_ids))}).mappings()
    return {row["peserta_didik_id"]: row for row in rows}


def region_of(session: Session, sekolah_id: str) -> str | None:
    stmt = sa.select(SEKOLAH.c.kode_wilayah).where(SEKOLAH.c.sekolah_id == sekolah_id)
    return session.execute(stmt).scalar_one_or_none()
