"""The hub's feed: every student the hub may sync, i.e. validated without an INVALID finding, in change
order (change_seq, id); records held back by validation are absent (and 404 when named) until fixed.
When the hub reads a page, each school's read position moves to its last record in the page."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlmodel import Session

from services.dapodik_gateway import paging
from services.dapodik_gateway.feed import repository
from services.dapodik_gateway.peserta_didik import service as pd_service
from services.dapodik_gateway.sekolah import service as sekolah_service
from services.dapodik_gateway.sinkronisasi import service as sync_service
from services.dapodik_gateway.validasi import service as validasi_service
from shared.contracts.dapodik import AlasanKeluar, PesertaDidik, PesertaDidikFeed, PesertaDidikKeluar, StatusValidasi
from shared.errors import InvalidInput, NotFound


def feed(session: Session, cursor: str | None, limit: int, npsn: str | None = None, *, since: str | None = None,
         delivered_to: str | None = None, removed: bool = False) -> PesertaDidikFeed:
    """A page of the feed after ``cursor`` (paging) or ``since`` (resuming; the same kind of position);
    ``delivered_to``: the hub client reading it (its read positions move). ``removed``: also the tombstones of
    the records the feed leaves out (held back, not validated, deleted) in the page's range, so a reader that
    keeps a copy drops them; at most ``limit`` of them per page (the page then ends at the last one)."""
    if cursor is not None and since is not None:
        raise InvalidInput.field("since", "exclusive", "give `cursor` (the next page) or `since` (resume), not both")
    field = "since" if since is not None else "cursor"
    after = paging.parse_seq_cursor(since if since is not None else cursor, field)
    sekolah_id = sekolah_service.require_sekolah_id(session, npsn) if npsn is not None else None
    rows, items, next_cursor = pd_service.feed_page(session, after, limit, sekolah_id, StatusValidasi.INVALID)
    gone: list[PesertaDidikKeluar] = []
    end = paging.SeqCursor(rows[-1]["change_seq"], rows[-1]["peserta_didik_id"]) if rows else None
    if removed:
        upto = end if next_cursor is not None else None  # the last page reaches to the end of the feed
        left = repository.left_out_after(session, after, upto, limit, sekolah_id, StatusValidasi.INVALID)
        if len(left) > limit:  # more tombstones than a page: the page ends at the last one given
            left = left[:limit]
            cut = paging.SeqCursor(left[-1]["change_seq"], left[-1]["peserta_didik_id"])
            keep = [i for i, r in enumerate(rows) if (r["change_seq"], r["peserta_didik_id"]) <= (cut.seq, cut.key)]
            rows, items = [rows[i] for i in keep], [items[i] for i in keep]
            next_cursor = cut.encode()
        gone = [PesertaDidikKeluar(peserta_didik_id=r["peserta_didik_id"], alasan=_why(r)) for r in left]
        if left:
            last = paging.SeqCursor(left[-1]["change_seq"], left[-1]["peserta_didik_id"])
            end = last if end is None or (last.seq, last.key) > (end.seq, end.key) else end
    if delivered_to is not None and rows:
        sync_service.record_delivery(session, rows, delivered_to, datetime.now(UTC))
    resume = end or after or paging.SeqCursor(0)
    return PesertaDidikFeed(items=items, removed=gone, next_cursor=next_cursor, resume_cursor=resume.encode())


def _why(row: sa.RowMapping) -> AlasanKeluar:
    if row["soft_delete"]:
        return AlasanKeluar.DELETED
    if row["status_validasi"] is None:
        return AlasanKeluar.NOT_VALIDATED
    return AlasanKeluar.HELD_BACK_INVALID


def one(session: Session, peserta_didik_id: str) -> PesertaDidik:
    row = pd_service.require_record(session, peserta_didik_id)
    if row["status_validasi"] is None or row["status_validasi"] >= StatusValidasi.INVALID:
        codes = validasi_service.invalid_findings(session, peserta_didik_id)
        why = f"invalid findings: {', '.join(codes)}" if codes else "not validated yet"
        raise NotFound.field("peserta_didik_id", "held_back_invalid",
                             f"peserta_didik {peserta_didik_id} is held back from sync ({why}); "
                             "see GET /api/v1/peserta-didik/{id}/validasi")
    return pd_service.with_provenance(session, row)
