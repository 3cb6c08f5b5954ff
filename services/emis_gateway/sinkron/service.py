"""Rules of the sync screen of a madrasah: when it last synced, what that sync changed, the runs before."""

from __future__ import annotations

import json

from sqlmodel import Session

from services.emis_gateway.madrasah import repository as madrasah_repository
from services.emis_gateway.sinkron import repository
from services.emis_gateway.sinkron.models import SyncLogRow
from shared.contracts.common import Page
from shared.contracts.emis import MadrasahSinkron, Perubahan, SinkronRingkasan
from shared.errors import NotFound

HISTORY_SHOWN = 10


def summary(session: Session, row: SyncLogRow, *, per_field: bool = True) -> SinkronRingkasan:
    return SinkronRingkasan(
        sync_run_id=row.sync_run_id, mulai=row.first_at, selesai=row.last_at, siswa=row.items, diubah=row.applied,
        tetap=row.unchanged, usang=row.stale, ditolak=row.rejected, nilai_diubah=row.values_written,
        per_field=repository.changes_per_field(session, row.nsm, row.sync_run_id) if per_field else {})


def _madrasah(session: Session, nsm: str) -> None:
    if madrasah_repository.get(session, nsm) is None:
        raise NotFound.field("nsm", "not_found", "no madrasah or pesantren with this number")


def sinkron(session: Session, nsm: str) -> MadrasahSinkron:
    _madrasah(session, nsm)
    rows = repository.runs(session, nsm, HISTORY_SHOWN)
    history = [summary(session, r, per_field=False) for r in rows]
    last = summary(session, rows[0]) if rows else None
    return MadrasahSinkron(nsm=nsm, last_sync=rows[0].last_at if rows else None, terakhir=last, riwayat=history)


def perubahan(session: Session, nsm: str, sync_run_id: str | None, after: int, limit: int) -> Page[Perubahan]:
    """The values a run (default: the last one) changed on the madrasah's students, in write order."""
    _madrasah(session, nsm)
    if sync_run_id is None:
        rows = repository.runs(session, nsm, 1)
        if not rows:
            return Page[Perubahan](items=[], next_cursor=None)
        sync_run_id = rows[0].sync_run_id
    elif repository.get(session, nsm, sync_run_id) is None:
        raise NotFound.field("sync_run_id", "not_found", "this sync run wrote nothing to this madrasah")
    found = repository.changes(session, nsm, sync_run_id, after, limit)
    items = [Perubahan(siswa_id=c.siswa_id, nama=c.nama, field=c.field, nilai_lama=json.loads(c.old_value),
                       nilai_baru=json.loads(c.new_value), waktu=c.changed_at) for c in found[:limit]]
    return Page[Perubahan](items=items, next_cursor=str(found[limit - 1].id) if len(found) > limit else None)
