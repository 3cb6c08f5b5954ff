"""The hub's feed: every validated student in change order (change_seq, id), held-back ones (an INVALID
finding) included, each with its validation findings (``temuan_validasi``): the hub decides a held-back record
on the keys its findings leave usable, so every student ends a run with an outcome. Records not validated yet
and deleted ones are left out (tombstones with ``removed=true``). When the hub reads a page, each school's
read position moves to its last record in the page."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from services.dapodik_gateway import paging
from services.dapodik_gateway.feed import repository
from services.dapodik_gateway.peserta_didik import service as pd_service
from services.dapodik_gateway.sekolah import service as sekolah_service
from services.dapodik_gateway.sinkronisasi import service as sync_service
from shared.contracts.common import FeedEnd
from shared.contracts.dapodik import AlasanKeluar, PesertaDidik, PesertaDidikFeed
from shared.cursor import IdCursor
from shared.errors import InvalidInput, NotFound


def feed(session: Session, cursor: str | None, limit: int, npsn: str | None = None, *, since: str | None = None,
         delivered_to: str | None = None, removed: bool = False) -> PesertaDidikFeed:
    """A page of the feed after ``cursor`` (paging) or ``since`` (resuming; the same kind of position);
    ``delivered_to``: the hub client reading it (its read positions move). ``removed``: also the tombstones of
    the records the feed leaves out (not validated, deleted) in the page's range, so a reader that
    keeps a copy drops them; at most ``limit`` of them per page (the page then ends at the last one)."""
    return PesertaDidikFeed.model_validate(feed_data(session, cursor, limit, npsn, since=since,
                                                     delivered_to=delivered_to, removed=removed))


def feed_data(session: Session, cursor: str | None, limit: int, npsn: str | None = None, *, since: str | None = None,
              delivered_to: str | None = None, removed: bool = False, id_after: str | None = None,
              id_upto: str | None = None) -> dict[str, Any]:
    """``feed``'s page as plain data in the contract's field order (``pydantic_core.to_json`` of it is byte for byte
    the page's ``model_dump_json()``; the route serves it so). ``id_after`` / ``id_upto``: only the records whose id
    is above / up to these (the hub reads a whole feed as id ranges at once)."""
    if cursor is not None and since is not None:
        raise InvalidInput.field("since", "exclusive", "give `cursor` (the next page) or `since` (resume), not both")
    if id_after is not None or id_upto is not None:
        return _range_data(session, cursor, limit, npsn, since=since, removed=removed, id_after=id_after,
                           id_upto=id_upto)
    field = "since" if since is not None else "cursor"
    after = paging.parse_seq_cursor(since if since is not None else cursor, field)
    sekolah_id = sekolah_service.require_sekolah_id(session, npsn) if npsn is not None else None
    rows, items, next_cursor = pd_service.feed_page(session, after, limit, sekolah_id)
    gone: list[dict[str, Any]] = []
    end = paging.SeqCursor(rows[-1]["change_seq"], rows[-1]["peserta_didik_id"]) if rows else None
    if removed:
        upto = end if next_cursor is not None else None  # the last page reaches to the end of the feed
        left = repository.left_out_after(session, after, upto, limit, sekolah_id)
        if len(left) > limit:  # more tombstones than a page: the page ends at the last one given
            left = left[:limit]
            cut = paging.SeqCursor(left[-1]["change_seq"], left[-1]["peserta_didik_id"])
            keep = [i for i, r in enumerate(rows) if (r["change_seq"], r["peserta_didik_id"]) <= (cut.seq, cut.key)]
            rows, items = [rows[i] for i in keep], [items[i] for i in keep]
            next_cursor = cut.encode()
        gone = [{"peserta_didik_id": r["peserta_didik_id"], "alasan": _why(r)} for r in left]
        if left:
            last = paging.SeqCursor(left[-1]["change_seq"], left[-1]["peserta_didik_id"])
            end = last if end is None or (last.seq, last.key) > (end.seq, end.key) else end
    if delivered_to is not None and rows:
        sync_service.record_delivery(session, rows, delivered_to, datetime.now(UTC))
    resume = end or after or paging.SeqCursor(0)
    return {"items": items, "removed": gone, "next_cursor": next_cursor, "resume_cursor": resume.encode()}


def _range_data(session: Session, cursor: str | None, limit: int, npsn: str | None, *, since: str | None,
                removed: bool, id_after: str | None, id_upto: str | None) -> dict[str, Any]:
    """A page of a range of the feed (``id_after`` / ``id_upto``), in id order: a range is part of a read of the
    whole feed, so it has no resume position of its own and no tombstones, and the schools' read positions do not
    move (a range's pages are not in change order: a position moved by one would claim records another range has not
    read yet). The reader resumes the whole feed from ``GET /hub/feed-end`` read before its ranges, and says when it
    holds them all (``POST /hub/feed-read``: the positions move then)."""
    if since is not None:
        raise InvalidInput.field("since", "exclusive", "a range (`id_after` / `id_upto`) is read whole, in id order; "
                                 "resume the whole feed with `since` from `GET /api/v1/hub/feed-end`")
    if removed:
        raise InvalidInput.field("removed", "exclusive", "a range (`id_after` / `id_upto`) is read whole: a record "
                                 "it does not hold is not in the feed, and it has no tombstones")
    after = IdCursor.decode(cursor) if cursor is not None else None
    sekolah_id = sekolah_service.require_sekolah_id(session, npsn) if npsn is not None else None
    _, items, next_cursor = pd_service.feed_range_page(session, after, limit, sekolah_id, id_after, id_upto)
    return {"items": items, "removed": [], "next_cursor": next_cursor, "resume_cursor": paging.SeqCursor(0).encode()}


def read_whole(session: Session, resume_cursor: str, client: str) -> int:
    """The hub holds the whole feed up to ``resume_cursor`` (a position of ``GET /hub/feed-end``; it read the feed
    as ranges): each school's read position is raised to its last record in the feed at or before it. Returns how
    many schools' positions moved. Idempotent: a position never moves back."""
    upto = paging.SeqCursor.decode(resume_cursor, "resume_cursor")
    return sync_service.record_read_upto(session, upto, client, datetime.now(UTC))


def end(session: Session) -> FeedEnd:
    """Where the feed ends now (after every record, in the feed or left out of it) and how many records it holds."""
    last, records = repository.feed_end(session)
    return FeedEnd(resume_cursor=(last or paging.SeqCursor(0)).encode(), records=records)


def _why(row: sa.RowMapping) -> AlasanKeluar:
    return AlasanKeluar.DELETED if row["soft_delete"] else AlasanKeluar.NOT_VALIDATED


def one(session: Session, peserta_didik_id: str) -> PesertaDidik:
    """One record of the feed, held back or not (404 ``not_validated`` until it is validated)."""
    row = pd_service.require_record(session, peserta_didik_id)
    if row["status_validasi"] is None:
        raise NotFound.field("peserta_didik_id", "not_validated",
                             f"peserta_didik {peserta_didik_id} is not validated yet; the hub reads it once it is")
    return pd_service.with_provenance(session, row)
