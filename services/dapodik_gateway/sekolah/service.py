"""Rules for reading schools: paging, and the per-school figures Dapodik shows (students, last sync)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from services.dapodik_gateway import paging
from services.dapodik_gateway.sekolah import repository
from services.dapodik_gateway.sekolah.models import SekolahRow
from shared.contracts.common import Page
from shared.contracts.dapodik import Sekolah
from shared.errors import NotFound


def to_contract(row: SekolahRow, jumlah: int = 0, last_sync: datetime | None = None) -> Sekolah:
    return Sekolah(
        sekolah_id=row.sekolah_id, npsn=row.npsn, nama=row.nama, bentuk_pendidikan=row.bentuk_pendidikan,
        status_sekolah=row.status_sekolah, kode_wilayah=row.kode_wilayah,
        jumlah_peserta_didik=jumlah, last_sync=last_sync,
    )


def _with_stats(session: Session, rows: list[SekolahRow]) -> list[Sekolah]:
    stats = repository.student_stats(session, [r.sekolah_id for r in rows])
    return [to_contract(r, *stats.get(r.sekolah_id, (0, None))) for r in rows]


def list_sekolah(session: Session, cursor: str | None, limit: int, only_npsn: str | None = None) -> Page[Sekolah]:
    """Schools in (last_update, id) order; ``only_npsn``: just that one (a school operator's list)."""
    rows = repository.list_after(session, paging.parse_cursor(cursor), limit, only_npsn)
    page, next_cursor = paging.cut(rows, limit, lambda r: (r.last_update, r.sekolah_id))
    return Page[Sekolah](items=_with_stats(session, page), next_cursor=next_cursor)


def get_sekolah(session: Session, npsn: str) -> Sekolah:
    row = repository.by_npsn(session, npsn)
    if row is None:
        raise NotFound.field("npsn", "not_found", "no school with this NPSN")
    return _with_stats(session, [row])[0]


def require_sekolah_id(session: Session, npsn: str) -> str:
    """The sekolah_id of an NPSN (404 naming ``npsn`` if there is none)."""
    row = repository.by_npsn(session, npsn)
    if row is None:
        raise NotFound.field("npsn", "not_found", "no school with this NPSN")
    return row.sekolah_id
