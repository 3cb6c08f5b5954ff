"""Rules of the madrasah domain: read models with their student counts."""

from __future__ import annotations

from sqlmodel import Session

from services.emis_gateway import paging
from services.emis_gateway.madrasah import repository
from services.emis_gateway.madrasah.models import MadrasahRow
from shared.contracts.common import Page
from shared.contracts.emis import JenjangMadrasah, Madrasah, StatusLembaga
from shared.errors import NotFound


def to_read_model(row: MadrasahRow, stats: repository.StudentStats) -> Madrasah:
    return Madrasah(nsm=row.nsm, npsn=row.npsn, nama=row.nama, jenjang=JenjangMadrasah(row.jenjang),
                    status=StatusLembaga(row.status), kode_wilayah=row.kode_wilayah,
                    jumlah_siswa=stats.jumlah_siswa, last_sync=stats.last_sync)


def list_madrasah(session: Session, cursor: str | None, limit: int) -> Page[Madrasah]:
    rows = repository.page(session, paging.decode(cursor, key_length=12), limit)
    items, next_cursor = paging.split(rows, limit, lambda r: (r.updated_at, r.nsm))
    stats = repository.student_stats(session, [r.nsm for r in items])
    return Page[Madrasah](items=[to_read_model(r, stats.get(r.nsm, repository.StudentStats())) for r in items],
                          next_cursor=next_cursor)


def get_madrasah(session: Session, nsm: str) -> Madrasah:
    row = repository.get(session, nsm)
    if row is None:
        raise NotFound.field("nsm", "not_found", f"no madrasah with NSM {nsm}")
    stats = repository.student_stats(session, [nsm])
    return to_read_model(row, stats.get(nsm, repository.StudentStats()))
