"""All SQL of the loader: bulk inserts with SQLAlchemy core, in chunks, on one connection (one transaction)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table, bindparam, delete, insert, select

from services.emis_gateway.kehadiran.models import KehadiranSiswaRow
from services.emis_gateway.madrasah.models import MadrasahRow
from services.emis_gateway.pkh.models import PkhRequestItemRow, PkhRequestRow
from services.emis_gateway.results.models import FieldHistoryRow, FieldObservationRow, FieldProvenanceRow
from services.emis_gateway.sinkron.models import SyncBatchRow, SyncLogRow
from services.emis_gateway.siswa.models import SiswaRow

MADRASAH: Table = MadrasahRow.__table__  # type: ignore[assignment]
SISWA: Table = SiswaRow.__table__  # type: ignore[assignment]
KEHADIRAN: Table = KehadiranSiswaRow.__table__  # type: ignore[assignment]
_CHILD_FIRST: tuple[Table, ...] = (
    KEHADIRAN,
    SyncLogRow.__table__,  # type: ignore[has-type]
    SyncBatchRow.__table__,  # type: ignore[has-type]
    PkhRequestItemRow.__table__,  # type: ignore[has-type]
    PkhRequestRow.__table__,  # type: ignore[has-type]
    FieldHistoryRow.__table__,  # type: ignore[has-type]
    FieldObservationRow.__table__,  # type: ignore[has-type]
    FieldProvenanceRow.__table__,  # type: ignore[has-type]
    SISWA,
    MADRASAH,
)


def clear(conn: Connection) -> None:
    """Delete every row of this service (children first, for the foreign keys)."""
    for table in _CHILD_FIRST:
        conn.execute(delete(table))


def existing_keys(conn: Connection, table: Table, column: str) -> set[str]:
    """Every stored value of ``column`` (the primary keys: small strings)."""
    return {row[0] for row in conn.execute(select(table.c[column]))}


def insert_many(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]], chunk: int = 1000) -> None:
    for start in range(0, len(rows), chunk):
        conn.execute(insert(table), list(rows[start:start + chunk]))


def existing_pesantren(conn: Connection) -> set[str]:
    return {row[0] for row in conn.execute(select(MADRASAH.c.nsm).where(MADRASAH.c.jenis_lembaga == "PESANTREN"))}


def mark_keluar(conn: Connection, updates: Sequence[Mapping[str, Any]]) -> None:
    """Students who left: status_aktif false, the date and the reason (keys ``b_siswa_id`` and the columns)."""
    if updates:
        conn.execute(SISWA.update().where(SISWA.c.siswa_id == bindparam("b_siswa_id"))
                     .values(tanggal_keluar=bindparam("tanggal_keluar"), alasan_keluar=bindparam("alasan_keluar"),
                             status_aktif=bindparam("status_aktif"), updated_at=bindparam("updated_at")),
                     list(updates))
