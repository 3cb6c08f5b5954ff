"""All SQL of loading: bulk inserts with SQLAlchemy core, existence checks, clearing for ``--replace``."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from services.dapodik_gateway import db
from services.dapodik_gateway.kehadiran.models import KehadiranPdRow
from services.dapodik_gateway.kesejahteraan.models import KesejahteraanPdRow
from services.dapodik_gateway.kip.models import KipTidakCocokRow, SkKipRow
from services.dapodik_gateway.peserta_didik.models import PesertaDidikRow
from services.dapodik_gateway.results.models import FieldObservationRow, FieldProvenanceRow, ValueHistoryRow
from services.dapodik_gateway.sekolah.models import SekolahRow
from services.dapodik_gateway.sinkronisasi.models import SyncPositionRow, TableSyncLogRow
from services.dapodik_gateway.validasi.models import VldPesertaDidikRow

_SEKOLAH: sa.Table = SekolahRow.__table__  # type: ignore[assignment]
_PESERTA_DIDIK: sa.Table = PesertaDidikRow.__table__  # type: ignore[assignment]
_VLD: sa.Table = VldPesertaDidikRow.__table__  # type: ignore[assignment]
_KEHADIRAN: sa.Table = KehadiranPdRow.__table__  # type: ignore[assignment]


def clear(conn: Connection) -> None:
    """Every row of this service, children first (the change counter stays: change numbers never go back)."""
    for model in (KehadiranPdRow, KipTidakCocokRow, SkKipRow, KesejahteraanPdRow, VldPesertaDidikRow, ValueHistoryRow,
                  FieldProvenanceRow, FieldObservationRow, TableSyncLogRow, SyncPositionRow, PesertaDidikRow,
                  SekolahRow):
        conn.execute(sa.delete(model.__table__))  # type: ignore[arg-type]


def existing_sekolah_keys(conn: Connection) -> tuple[set[str], set[str]]:
    rows = conn.execute(sa.select(_SEKOLAH.c.sekolah_id, _SEKOLAH.c.npsn)).all()
    return {r.sekolah_id for r in rows}, {r.npsn for r in rows}


def existing_peserta_didik_ids(conn: Connection, ids: list[str]) -> set[str]:
    if not ids:
        return set()
    stmt = sa.select(_PESERTA_DIDIK.c.peserta_didik_id).where(_PESERTA_DIDIK.c.peserta_didik_id.in_(ids))
    return set(conn.execute(stmt).scalars())


def insert_sekolah(conn: Connection, rows: list[dict[str, Any]]) -> None:
    db.bulk_insert(conn, _SEKOLAH, rows)


def insert_peserta_didik(conn: Connection, rows: list[dict[str, Any]]) -> None:
    db.bulk_insert(conn, _PESERTA_DIDIK, rows)


def insert_findings(conn: Connection, rows: list[dict[str, Any]]) -> None:
    db.bulk_insert(conn, _VLD, rows)


def insert_kehadiran(conn: Connection, rows: list[dict[str, Any]]) -> None:
    db.bulk_insert(conn, _KEHADIRAN, rows)


def existing_kehadiran(conn: Connection, ids: list[str]) -> set[tuple[str, int, int]]:
    """(peserta_didik_id, tahun, bulan) of the months already stored for these students."""
    out: set[tuple[str, int, int]] = set()
    for start in range(0, len(ids), 1000):
        stmt = sa.select(_KEHADIRAN.c.peserta_didik_id, _KEHADIRAN.c.tahun, _KEHADIRAN.c.bulan).where(
            _KEHADIRAN.c.peserta_didik_id.in_(ids[start:start + 1000]))
        out.update((r[0], r[1], r[2]) for r in conn.execute(stmt))
    return out


def mark_keluar(conn: Connection, updates: list[dict[str, Any]]) -> None:
    """Students who left: ``jenis_keluar_id`` and ``tanggal_keluar`` set (keys ``b_id`` and the columns)."""
    if updates:
        stmt = (sa.update(_PESERTA_DIDIK).where(_PESERTA_DIDIK.c.peserta_didik_id == sa.bindparam("b_id"))
                .values(jenis_keluar_id=sa.bindparam("b_jenis"), tanggal_keluar=sa.bindparam("b_tanggal")))
        db.executemany(conn, stmt, updates)


def mark_changed(conn: Connection, ids: list[str], at: datetime, seq: int) -> None:
    """Students stored before this load whose attendance or leaving it changed: they move in the hub's feed."""
    if ids:
        stmt = (sa.update(_PESERTA_DIDIK).where(_PESERTA_DIDIK.c.peserta_didik_id == sa.bindparam("b_id"))
                .values(last_update=sa.bindparam("b_at"), change_seq=sa.bindparam("b_seq")))
        db.executemany(conn, stmt, [{"b_id": pid, "b_at": at, "b_seq": seq} for pid in ids])


def keluar_dates(conn: Connection, ids: list[str]) -> dict[str, date]:
    """``tanggal_keluar`` of the students among ``ids`` who left."""
    out: dict[str, date] = {}
    for start in range(0, len(ids), 1000):
        stmt = sa.select(_PESERTA_DIDIK.c.peserta_didik_id, _PESERTA_DIDIK.c.tanggal_keluar).where(
            _PESERTA_DIDIK.c.peserta_didik_id.in_(ids[start:start + 1000]),
            _PESERTA_DIDIK.c.tanggal_keluar.is_not(None))
        out.update((r[0], r[1]) for r in conn.execute(stmt))
    return out
