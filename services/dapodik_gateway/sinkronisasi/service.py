"""The sync screen's rules: the change sequence, what counts as delivered to the hub, the sync log of
results batches, and the three views (summary, local changes waiting, incoming changes of the last run)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlmodel import Session

from services.dapodik_gateway import paging
from services.dapodik_gateway.db import unstorable_text
from services.dapodik_gateway.results import repository as results_repository
from services.dapodik_gateway.sekolah import service as sekolah_service
from services.dapodik_gateway.sinkronisasi import repository
from shared.contracts.common import Page
from shared.contracts.dapodik import JenisPerubahan, PerubahanKeluar, PerubahanMasuk, Sinkronisasi, SyncLogRun
from shared.errors import InvalidInput

# Item outcomes as table_sync_log counts them.
CREATE, UPDATE, KONFLIK, UNCHANGED, REJECTED = "n_create", "n_update", "n_konflik", "n_unchanged", "n_rejected"


def begin_change(conn: Connection) -> None:
    """The first step of a transaction that will change records (load, import, operator edit, KIP SK), before it
    reads or locks anything it decides on: take the change counter. Changes then take turns, and every other
    lock comes after it (students in id order, see the README's *Locks*), so no two writers wait on each other
    in a circle. The number itself is taken later (``next_change_seq``), only when something changed."""
    repository.lock_change_counter(conn)


def next_change_seq(conn: Connection) -> int:
    """The next change number (``begin_change`` took the counter already; this moves it)."""
    return repository.next_change_seq(conn)


def record_delivery(session: Session, rows: Iterable[sa.RowMapping], client: str, at: datetime) -> None:
    """The hub read these records in its feed: raise each school's read position to its last record."""
    last: dict[str, tuple[int, str]] = {}
    for r in rows:
        key = (r["change_seq"], r["peserta_didik_id"])
        if key > last.get(r["sekolah_id"], (-1, "")):
            last[r["sekolah_id"]] = key
    repository.raise_positions(session, [
        {"sekolah_id": sid, "change_seq": seq, "peserta_didik_id": pid, "delivered_at": at, "client": client}
        for sid, (seq, pid) in last.items()])


def record_read_upto(session: Session, upto: paging.SeqCursor, client: str, at: datetime) -> int:
    """The hub holds the whole feed up to ``upto`` (it read it as ranges, whose pages move no position): each school's
    read position raised to its last record at or before it. How many schools' positions moved."""
    return repository.raise_positions_upto(session, upto, client, at)


def record_batch(session: Session, sync_run_id: str, client: str, begin: datetime, end: datetime,
                 outcomes: Sequence[tuple[str, str]]) -> None:
    """One ``table_sync_log`` row per school the batch touched; ``outcomes``: (sekolah_id, count name)."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for sekolah_id, name in outcomes:
        counts[sekolah_id][name] += 1
    repository.insert_log(session, [
        {"sekolah_id": sid, "table_name": "peserta_didik", "sync_run_id": sync_run_id, "client": client,
         "begin_sync": begin, "end_sync": end, **{k: c[k] for k in (CREATE, UPDATE, KONFLIK, UNCHANGED, REJECTED)}}
        for sid, c in counts.items()])


def screen(session: Session, npsn: str) -> Sinkronisasi:
    sekolah_id = sekolah_service.require_sekolah_id(session, npsn)
    position = repository.positions(session, [sekolah_id]).get(sekolah_id)
    read_at = position["delivered_at"] if position else None
    results_at = repository.last_results_at(session, sekolah_id)
    run_id = repository.last_run_id(session, sekolah_id)
    run = None
    if run_id is not None:
        summary = repository.run_summary(session, sekolah_id, run_id)
        run = SyncLogRun(sync_run_id=run_id, **{k: summary[k] for k in (
            "begin_sync", "end_sync", "batches", CREATE, UPDATE, KONFLIK, UNCHANGED, REJECTED)})
    times = [t for t in (read_at, results_at) if t is not None]
    return Sinkronisasi(npsn=npsn, sekolah_id=sekolah_id, last_sync=max(times, default=None),
                        last_read_by_hub=read_at, last_results_at=results_at,
                        local_changes_waiting=repository.count_waiting(session, sekolah_id, position),
                        held_back=repository.count_held_back(session, sekolah_id), last_run=run)


def outgoing(session: Session, npsn: str, cursor: str | None, limit: int) -> Page[PerubahanKeluar]:
    """The local changes waiting to go out, in the order the hub will read them."""
    after = paging.parse_seq_cursor(cursor)
    sekolah_id = sekolah_service.require_sekolah_id(session, npsn)
    position = repository.positions(session, [sekolah_id]).get(sekolah_id)
    rows = repository.waiting(session, sekolah_id, position, after, limit)
    page = rows[:limit]
    next_cursor = (paging.SeqCursor(page[-1]["change_seq"], page[-1]["peserta_didik_id"]).encode()
                   if len(rows) > limit else None)

    def jenis(r: sa.RowMapping) -> JenisPerubahan:
        new = position is None or r["create_date"] > position["delivered_at"]
        return JenisPerubahan.CREATE if new else JenisPerubahan.UPDATE

    return Page[PerubahanKeluar](items=[
        PerubahanKeluar(peserta_didik_id=r["peserta_didik_id"], nipd=r["nipd"], nama=r["nama"], jenis=jenis(r),
                        status_validasi=r["status_validasi"], last_update=r["last_update"]) for r in page],
        next_cursor=next_cursor)


def incoming(session: Session, npsn: str, sync_run_id: str | None, cursor: str | None, limit: int
             ) -> Page[PerubahanMasuk]:
    """The values a sync run (default: the last that applied results here) wrote to the school's students."""
    after = paging.parse_seq_cursor(cursor)
    if sync_run_id is not None and (rule := unstorable_text(sync_run_id)):
        raise InvalidInput.field("sync_run_id", rule, "text no database can store")
    sekolah_id = sekolah_service.require_sekolah_id(session, npsn)
    run_id = sync_run_id or repository.last_run_id(session, sekolah_id)
    if run_id is None:
        return Page[PerubahanMasuk](items=[], next_cursor=None)
    rows = repository.incoming(session, sekolah_id, run_id, after, limit)
    page = rows[:limit]
    items: list[PerubahanMasuk] = []
    for r in page:
        new: Any = results_repository.from_json(r["value"])
        changed = r["history_id"] is not None
        items.append(PerubahanMasuk(
            peserta_didik_id=r["peserta_didik_id"], nipd=r["nipd"], nama=r["nama"], field=r["field"],
            old_value=results_repository.from_json(r["old_value"]) if changed else new, new_value=new,
            value_changed=changed, jenis=JenisPerubahan.UPDATE if r["had_value"] else JenisPerubahan.CREATE,
            provenance_id=r["provenance_id"], source_system=r["source_system"], source_record=r["source_record"],
            written_at=r["written_at"]))
    next_cursor = paging.SeqCursor(page[-1]["id"]).encode() if len(rows) > limit else None
    return Page[PerubahanMasuk](items=items, next_cursor=next_cursor)
