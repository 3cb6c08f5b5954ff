"""Rules of the madrasah domain: read models with their student counts."""

from __future__ import annotations

from sqlmodel import Session

from services.emis_gateway import paging
from services.emis_gateway.madrasah import repository
from services.emis_gateway.madrasah.models import MADRASAH, MadrasahRow
from services.emis_gateway.sinkron import repository as sinkron_repository
from services.emis_gateway.sinkron import service as sinkron_service
from shared.contracts.common import Page
from shared.contracts.emis import JenjangMadrasah, Madrasah, SinkronRingkasan, StatusLembaga
from shared.errors import NotFound


def to_read_model(row: MadrasahRow, stats: repository.StudentStats,
                  last: SinkronRingkasan | None = None) -> Madrasah:
    """``last``: what the madrasah's last sync did; its end is when the madrasah last synced (also when
    it changed nothing)."""
    return Madrasah(nsm=row.nsm, npsn=row.npsn, nama=row.nama, jenjang=JenjangMadrasah(row.jenjang),
                    status=StatusLembaga(row.status), kode_wilayah=row.kode_wilayah,
                    jumlah_siswa=stats.jumlah_siswa, last_sync=last.selesai if last else stats.last_sync,
                    sinkron_terakhir=last)


def stats_and_last_sync(session: Session, rows: list[MadrasahRow]) -> list[tuple[MadrasahRow, repository.StudentStats,
                                                                              SinkronRingkasan | None]]:
    """Per institution: its student counts and what its last sync did (a fixed number of statements)."""
    nsms = [r.nsm for r in rows]
    stats = repository.student_stats(session, nsms)
    latest = sinkron_repository.latest(session, nsms)
    return [(r, stats.get(r.nsm, repository.StudentStats()),
             sinkron_service.summary(session, latest[r.nsm], per_field=False) if r.nsm in latest else None)
            for r in rows]


def _read_models(session: Session, rows: list[MadrasahRow]) -> list[Madrasah]:
    return [to_read_model(r, stats, last) for r, stats, last in stats_and_last_sync(session, rows)]


def list_madrasah(session: Session, cursor: str | None, limit: int,
                  scope: frozenset[str] | None = None) -> Page[Madrasah]:
    """``scope``: the institutions the caller may see (None: all)."""
    rows = repository.page(session, paging.decode(cursor, key_length=12), limit, scope)
    items, next_cursor = paging.split(rows, limit, lambda r: (r.updated_at, r.nsm))
    return Page[Madrasah](items=_read_models(session, items), next_cursor=next_cursor)


def get_madrasah(session: Session, nsm: str) -> Madrasah:
    row = repository.get(session, nsm, MADRASAH)
    if row is None:
        raise NotFound.field("nsm", "not_found", "no madrasah with this NSM")
    return _read_models(session, [row])[0]
