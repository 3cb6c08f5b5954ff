from __future__ import annotations

from collections.abc import Iterator

from shared.clients._gateway import GatewayClient
from shared.contracts.common import FeedEnd, FeedReadAnswer, Page
from shared.contracts.dapodik import HUB_FEED_PATH, PesertaDidik, PesertaDidikFeed, Sekolah


class DapodikClient(GatewayClient[PesertaDidik]):
    # The hub syncs from its feed: every validated record, held-back ones (INVALID findings) with their findings.
    students_path = HUB_FEED_PATH
    student_model = PesertaDidik

    def list_sekolah(self, cursor: str | None = None, limit: int = 500) -> Page[Sekolah]:
        params: dict[str, str | int] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        return self.request("GET", "/api/v1/sekolah", Page[Sekolah], idempotent=True, params=params)

    def list_peserta_didik(self, cursor: str | None = None, limit: int = 500) -> Page[PesertaDidik]:
        """A page of every active student as the operators see them (``/api/v1/peserta-didik``): not the hub's
        feed, so reading it moves no school's read position."""
        params: dict[str, str | int] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        return self.request("GET", "/api/v1/peserta-didik", Page[PesertaDidik], idempotent=True, params=params)

    def iter_peserta_didik(self, limit: int = 500) -> Iterator[PesertaDidik]:
        cursor: str | None = None
        while True:
            page = self.list_peserta_didik(cursor, limit)
            yield from page.items
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    def changes(self, since: str | None = None, limit: int = 500, cursor: str | None = None, *,
                removed: bool = False, id_after: str | None = None, id_upto: str | None = None) -> PesertaDidikFeed:
        """One page of the change feed: after ``cursor`` (the previous page's ``next_cursor``) or, to resume a
        later run, after ``since`` (the last ``resume_cursor`` kept). ``removed``: also the tombstones of
        records that left the feed (not validated, deleted) in the page's range. ``id_after`` / ``id_upto``: only
        the records whose id is above / up to these (a range of the feed)."""
        params: dict[str, str | int] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        elif since:
            params["since"] = since
        if removed:
            params["removed"] = "true"
        if id_after is not None:
            params["id_after"] = id_after
        if id_upto is not None:
            params["id_upto"] = id_upto
        return self.request("GET", HUB_FEED_PATH, PesertaDidikFeed, idempotent=True, params=params)

    def feed_end(self) -> FeedEnd:
        """Where the hub's change feed ends now, and how many students it holds."""
        return self.request("GET", "/api/v1/hub/feed-end", FeedEnd, idempotent=True)

    def feed_read(self, resume_cursor: str) -> FeedReadAnswer:
        """The hub holds the whole feed up to ``resume_cursor`` (``feed_end()``'s, read before the ranges): each
        school's read position moves up to it (idempotent)."""
        return self.request("POST", "/api/v1/hub/feed-read", FeedReadAnswer, idempotent=True,
                            json={"resume_cursor": resume_cursor})

    def iter_changes(self, since: str | None = None, limit: int = 500, *, removed: bool = True
                     ) -> Iterator[PesertaDidikFeed]:
        """The pages of the feed after ``since`` (everything when None) until the last; the last page's
        ``resume_cursor`` is where to resume next run."""
        page = self.changes(since, limit, removed=removed)
        yield page
        while page.next_cursor:
            page = self.changes(limit=limit, cursor=page.next_cursor, removed=removed)
            yield page

    def read_changes(self, since: str | None = None, limit: int = 500) -> tuple[list[PesertaDidik], str]:
        """Every record changed since ``since`` (everything when None), and the ``resume_cursor`` to keep for
        the next run."""
        page = self.changes(since, limit)
        items = list(page.items)
        while page.next_cursor:
            page = self.changes(limit=limit, cursor=page.next_cursor)
            items += page.items
        return items, page.resume_cursor
