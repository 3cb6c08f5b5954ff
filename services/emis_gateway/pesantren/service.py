"""Rules of the pesantren domain (EMIS PD-Pontren): read models with santri counts and the last sync.

A pesantren is an institution like a madrasah, numbered by its NSPP; its santri are students whose
``nsm`` holds that NSPP, so requests for PKH data, the sync screen, data ganda, import and export and
object-level access work the same for both (the ``/madrasah/{nsm}/...`` paths take an NSPP too).
"""

from __future__ import annotations

from sqlmodel import Session

from services.emis_gateway import paging
from services.emis_gateway.madrasah import repository
from services.emis_gateway.madrasah.models import PESANTREN, MadrasahRow
from services.emis_gateway.madrasah.service import stats_and_last_sync
from shared.contracts.common import Page
from shared.contracts.emis import Pesantren, SinkronRingkasan, StatusLembaga
from shared.errors import NotFound


def to_read_model(row: MadrasahRow, stats: repository.StudentStats, last: SinkronRingkasan | None) -> Pesantren:
    return Pesantren(nspp=row.nsm, npsn=row.npsn or None, nama=row.nama, status=StatusLembaga(row.status),
                     kode_wilayah=row.kode_wilayah, jumlah_santri=stats.jumlah_siswa,
                     last_sync=last.selesai if last else stats.last_sync, sinkron_terakhir=last)


def list_pesantren(session: Session, cursor: str | None, limit: int,
                   scope: frozenset[str] | None = None) -> Page[Pesantren]:
    rows = repository.page(session, paging.decode(cursor, key_length=12), limit, scope, PESANTREN)
    items, next_cursor = paging.split(rows, limit, lambda r: (r.updated_at, r.nsm))
    return Page[Pesantren](items=[to_read_model(*x) for x in stats_and_last_sync(session, items)],
                           next_cursor=next_cursor)


def get_pesantren(session: Session, nspp: str) -> Pesantren:
    row = repository.get(session, nspp, PESANTREN)
    if row is None:
        raise NotFound.field("nspp", "not_found", "no pesantren with this NSPP")
    return to_read_model(*stats_and_last_sync(session, [row])[0])
