from __future__ import annotations

from collections.abc import Iterator

from shared.clients._gateway import GatewayClient
from shared.contracts.common import FeedEnd, Page
from shared.contracts.emis import HUB_SISWA_FEED_PATH, Madrasah, Pesantren, PkhAnswer, PkhRequest, Siswa, SiswaFeed
from shared.http import segment


class EmisClient(GatewayClient[Siswa]):
    students_path = "/api/v1/siswa"
    student_model = Siswa

    def changes(self, since: str | None = None, limit: int = 500, cursor: str | None = None, *,
                id_after: str | None = None, id_upto: str | None = None) -> SiswaFeed:
        """One page of the hub's change feed: after ``cursor`` (the previous page's ``next_cursor``) or, to
        resume a later run, after ``since`` (the last ``resume_cursor`` kept); only the students whose id is above
        ``id_after`` and up to ``id_upto`` when given (a range of the feed)."""
        params: dict[str, str | int] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        elif since:
            params["since"] = since
        if id_after is not None:
            params["id_after"] = id_after
        if id_upto is not None:
            params["id_upto"] = id_upto
        return self.request("GET", HUB_SISWA_FEED_PATH, SiswaFeed, idempotent=True, params=params)

    def feed_end(self) -> FeedEnd:
        """Where the hub's change feed ends now, and how many students it holds."""
        return self.request("GET", "/api/v1/hub/feed-end", FeedEnd, idempotent=True)

    def iter_changes(self, since: str | None = None, limit: int = 500) -> Iterator[SiswaFeed]:
        """The pages of the feed after ``since`` (everything when None) until the last; the last page's
        ``resume_cursor`` is where to resume next run."""
        page = self.changes(since, limit)
        yield page
        while page.next_cursor:
            page = self.changes(limit=limit, cursor=page.next_cursor)
            yield page

    def list_madrasah(self, cursor: str | None = None, limit: int = 500) -> Page[Madrasah]:
        params: dict[str, str | int] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        return self.request("GET", "/api/v1/madrasah", Page[Madrasah], idempotent=True, params=params)

    def get_madrasah(self, nsm: str) -> Madrasah:
        return self.request("GET", f"/api/v1/madrasah/{segment(nsm)}", Madrasah, idempotent=True)

    def list_pesantren(self, cursor: str | None = None, limit: int = 500) -> Page[Pesantren]:
        params: dict[str, str | int] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        return self.request("GET", "/api/v1/pesantren", Page[Pesantren], idempotent=True, params=params)

    def get_pesantren(self, nspp: str) -> Pesantren:
        return self.request("GET", f"/api/v1/pesantren/{segment(nspp)}", Pesantren, idempotent=True)

    # -- Request Data PKH ----------------------------------------------------------------------------

    def request_pkh(self, siswa_id: str) -> PkhRequest:
        """Ask for one student's PKH data now. ``status`` PENDING (HTTP 202) means the registry could not be
        reached: the request is queued and completed by the gateway later. Not retried (each call is a
        new request)."""
        return self.request("POST", f"/api/v1/siswa/{segment(siswa_id)}/pkh-request", PkhRequest, idempotent=False)

    def request_pkh_madrasah(self, nsm: str) -> PkhRequest:
        """Queue every active student of a madrasah (HTTP 202); follow it with ``get_pkh_request``. Asking
        again while one is PENDING answers that one, so a retry cannot queue twice."""
        return self.request("POST", f"/api/v1/madrasah/{segment(nsm)}/pkh-request", PkhRequest, idempotent=True)

    def get_pkh_request(self, request_id: str) -> PkhRequest:
        return self.request("GET", f"/api/v1/pkh-requests/{segment(request_id)}", PkhRequest, idempotent=True)

    def pkh_request_results(self, request_id: str, cursor: str | None = None, limit: int = 500) -> Page[PkhAnswer]:
        params: dict[str, str | int] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        return self.request("GET", f"/api/v1/pkh-requests/{segment(request_id)}/results", Page[PkhAnswer],
                            idempotent=True, params=params)
