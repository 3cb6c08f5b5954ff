"""The hub's change feed of students: every student in the order it last changed, (updated_at, siswa_id).

``updated_at`` moves only when the record itself changes (load, import), never when the hub writes results
or an operator enters manual PKH data, so the hub's own writes do not come back to it. A page after ``cursor``
(paging) or ``since`` (resuming) holds the students strictly after that position; ties on ``updated_at`` (one
load gives all its students one timestamp) are broken by the id, so nothing is read twice or skipped while
paging.

Resuming is exact only if no record can still appear *before* a position already handed out. Timestamps are
taken before commit, so a write transaction still open could commit a record with an earlier timestamp than
one already read. On SQLite that cannot happen (writers take the write lock before their timestamp). On
PostgreSQL every ``resume_cursor`` is held back to just before the oldest transaction still open (less a
margin for the gap between taking a timestamp and the transaction's first statement): records after that are
read again next time — read twice is harmless to the hub (it compares), read never would lose a change.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import Session

from services.emis_gateway.access import SYSTEM, Principal
from services.emis_gateway.base import as_utc
from services.emis_gateway.feed import repository
from services.emis_gateway.siswa import repository as siswa_repository
from services.emis_gateway.siswa import service as siswa_service
from shared.contracts.common import FeedEnd
from shared.contracts.emis import SiswaFeed
from shared.cursor import Cursor, IdCursor
from shared.errors import InvalidInput

# How far before the oldest open transaction a resume position stays (timestamp taken before the first
# statement, clocks of the app and the database server).
OPEN_TRANSACTION_MARGIN = timedelta(seconds=5)
# The position before every record (a resume position with nothing read yet).
_START = Cursor(datetime(1970, 1, 1, tzinfo=UTC), "")


def _key(c: Cursor) -> tuple[datetime, str]:
    return c.at, c.key


def feed(session: Session, cursor: str | None, limit: int, *, since: str | None = None,
         principal: Principal = SYSTEM, id_after: str | None = None, id_upto: str | None = None) -> SiswaFeed:
    """A page after ``cursor`` (the previous page's ``next_cursor``) or ``since`` (a ``resume_cursor``); a
    scoped client reads only its institutions' students; ``id_after`` / ``id_upto``: only the students whose id is
    above / up to these (the hub reads a whole feed as id ranges at once)."""
    if cursor is not None and since is not None:
        raise InvalidInput.field("since", "exclusive", "give `cursor` (the next page) or `since` (resume), not both")
    if id_after is not None or id_upto is not None:
        return _range(session, cursor, limit, since=since, principal=principal, id_after=id_after, id_upto=id_upto)
    after = _decode(since, "since") if since is not None else _decode(cursor, "cursor")
    rows = siswa_repository.page(session, after, limit, None, principal.scope)
    page = list(rows[:limit])
    items = siswa_service.read_models(session, page)
    last = Cursor(as_utc(page[-1].updated_at), page[-1].siswa_id) if page else None  # type: ignore[arg-type]
    next_cursor = last.encode() if last is not None and len(rows) > limit else None
    # never behind the ``since`` asked for; a page read with ``cursor`` has no such floor (the previous page's
    # position may itself be past an open transaction: the resume position then steps back before it)
    floor = after if since is not None and after is not None else _START
    resume = last or after or _START
    open_since = repository.oldest_open_transaction(session)
    if open_since is not None:
        bound = Cursor(as_utc(open_since) - OPEN_TRANSACTION_MARGIN, "")  # type: ignore[operator]
        if _key(bound) < _key(resume):
            resume = max(bound, floor, key=_key)
    return SiswaFeed(items=items, next_cursor=next_cursor, resume_cursor=resume.encode())


def _range(session: Session, cursor: str | None, limit: int, *, since: str | None, principal: Principal,
           id_after: str | None, id_upto: str | None) -> SiswaFeed:
    """A page of a range of the feed (``id_after`` / ``id_upto``), in id order: each range walks the primary key over
    its own ids (in change order each range would scan the whole feed's index). A range is part of a read of the
    whole feed: it has no resume position of its own (``resume_cursor`` is the feed's start); the reader resumes from
    ``GET /hub/feed-end`` read before its ranges."""
    if since is not None:
        raise InvalidInput.field("since", "exclusive", "a range (`id_after` / `id_upto`) is read whole, in id order; "
                                 "resume the whole feed with `since` from `GET /api/v1/hub/feed-end`")
    after = IdCursor.decode(cursor) if cursor is not None else None
    rows = siswa_repository.range_page(session, after.key if after else None, limit, principal.scope,
                                       id_after=id_after, id_upto=id_upto)
    page = list(rows[:limit])
    next_cursor = IdCursor(page[-1].siswa_id).encode() if len(rows) > limit else None
    return SiswaFeed(items=siswa_service.read_models(session, page), next_cursor=next_cursor,
                     resume_cursor=_START.encode())


def end(session: Session) -> FeedEnd:
    """Where the feed ends now (held back before the oldest open transaction, as a page's ``resume_cursor`` is) and
    how many students it holds."""
    at, key, records = siswa_repository.feed_end(session)
    resume = Cursor(as_utc(at), key or "") if at is not None else _START  # type: ignore[arg-type]
    open_since = repository.oldest_open_transaction(session)
    if open_since is not None:
        bound = Cursor(as_utc(open_since) - OPEN_TRANSACTION_MARGIN, "")  # type: ignore[operator]
        if _key(bound) < _key(resume):
            resume = max(bound, _START, key=_key)
    return FeedEnd(resume_cursor=resume.encode(), records=records)


def _decode(token: str | None, field: str) -> Cursor | None:
    """A position this feed issued (``next_cursor`` or ``resume_cursor``; a resume position may have an empty key)."""
    if token is None:
        return None
    cursor = Cursor.decode(token, field)
    at = as_utc(cursor.at)
    if at is None or len(cursor.key) > 64 or "\x00" in cursor.key:
        raise InvalidInput.field(field, "opaque_cursor", "cursor is not one this service issued")
    return Cursor(at, cursor.key)
