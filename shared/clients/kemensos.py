from __future__ import annotations

from collections.abc import Iterator, Sequence

from shared.contracts.common import Health
from shared.contracts.kemensos import (
    ChangePage,
    IdentityQuery,
    IdentitySearchRequest,
    IdentitySearchResponse,
    Jenjang,
    KeluargaDetail,
    KeluargaSearch,
    KipIssuance,
    KipPage,
    KomitmenPendidikanRequest,
    KomitmenPendidikanResponse,
    NikLookupRequest,
    NikLookupResponse,
    VerifikasiPendidikan,
    VerifikasiPendidikanAnak,
    VerifikasiPendidikanBatch,
    VerifikasiPendidikanBatchResponse,
    VerifikasiPendidikanItemStatus,
    VerifikasiPendidikanSearch,
)
from shared.http import BaseClient

MAX_LOOKUP = 1000


class KemensosClient(BaseClient):
    """Client of the Kemensos registry (kemensos_mock, or the real one behind the same contract)."""

    def health(self) -> Health:
        return self.request("GET", "/health", Health, idempotent=True)

    def lookup_niks(self, niks: Sequence[str]) -> NikLookupResponse:
        """Bulk lookup of up to 1,000 NIKs. A read, so it is retried."""
        body = NikLookupRequest(niks=list(niks))
        return self.request("POST", "/api/v1/nik/lookup", NikLookupResponse, idempotent=True,
                            json=body.model_dump())

    def search_identities(self, queries: Sequence[IdentityQuery], max_candidates: int = 5,
                          min_score: float = 0.6) -> IdentitySearchResponse:
        """Up to 1,000 name + birth + region queries; per query at most ``max_candidates`` ranked candidates.
        A read, so it is retried."""
        body = IdentitySearchRequest(queries=list(queries), max_candidates=max_candidates, min_score=min_score)
        return self.request("POST", "/api/v1/identity/search", IdentitySearchResponse, idempotent=True,
                            json=body.model_dump(mode="json", exclude_none=True))

    def list_kip(self, cursor: str | None = None, limit: int = 500, kode_wilayah: str | None = None,
                 jenjang: Jenjang | None = None, *, since_version: int | None = None,
                 until_version: int | None = None, no_kip_after: str | None = None,
                 no_kip_upto: str | None = None) -> KipPage:
        """One page of the KIP listing; ``since_version`` / ``until_version``: only the issuances whose version is in
        (since, until] (the last page's ``resume_cursor`` is after ``until_version``); ``no_kip_after`` /
        ``no_kip_upto``: a range of card numbers, paged in that order (a whole listing read as ranges at once)."""
        params: dict[str, str | int] = {"limit": limit}
        if no_kip_after is not None:
            params["no_kip_after"] = no_kip_after
        if no_kip_upto is not None:
            params["no_kip_upto"] = no_kip_upto
        if since_version is not None:
            params["since_version"] = since_version
        if until_version is not None:
            params["until_version"] = until_version
        if cursor:
            params["cursor"] = cursor
        if kode_wilayah:
            params["kode_wilayah"] = kode_wilayah
        if jenjang:
            params["jenjang"] = jenjang.value
        return self.request("GET", "/api/v1/kip", KipPage, idempotent=True, params=params)

    def iter_kip(self, limit: int = 500) -> Iterator[tuple[KipIssuance, int]]:
        """Every KIP issuance with the registry sequence of the page it came in."""
        cursor: str | None = None
        while True:
            page = self.list_kip(cursor, limit)
            for item in page.items:
                yield item, page.observed_seq
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    def get_keluarga(self, no_kk: str) -> KeluargaDetail:
        """One family with members, address, PKH history and past KK numbers. A KK number the family held
        before finds it too (then ``no_kk`` is the current one). Unknown: ``Rejected`` with status 404. A POST
        search: the KK number travels in the body, never in a URL."""
        body = KeluargaSearch(no_kk=no_kk)
        return self.request("POST", "/api/v1/keluarga/search", KeluargaDetail, idempotent=True,
                            json=body.model_dump(mode="json"))

    def list_changes(self, cursor: str | None = None, limit: int = 500, *, since_version: int | None = None,
                     until_version: int | None = None) -> ChangePage:
        """One page of the change feed after ``cursor`` (None: from the beginning); only the changes with a
        version in (``since_version``, ``until_version``] when given (a range of the feed)."""
        params: dict[str, str | int] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        if since_version is not None:
            params["since_version"] = since_version
        if until_version is not None:
            params["until_version"] = until_version
        return self.request("GET", "/api/v1/changes", ChangePage, idempotent=True, params=params)

    def iter_changes(self, cursor: str | None = None, limit: int = 500, *, since_version: int | None = None,
                     until_version: int | None = None) -> Iterator[ChangePage]:
        """Pages of the change feed from ``cursor`` until the feed is caught up (``has_more`` false).

        Yields pages, not items, so a consumer stores each page's changes together with its
        ``next_cursor`` (one transaction) and resumes from the last stored cursor after a crash. The
        last page's ``next_cursor`` is where to resume later; a page with no items is yielded too, so
        the consumer always learns the current cursor and ``observed_seq``.
        """
        while True:
            page = self.list_changes(cursor, limit, since_version=since_version, until_version=until_version)
            yield page
            if not page.has_more:
                return
            cursor = page.next_cursor

    def put_education_verification(self, items: Sequence[VerifikasiPendidikan]) -> VerifikasiPendidikanBatchResponse:
        """Up to 1,000 verifications, validated together (a bad one refuses the batch: nothing stored).
        Idempotent per (child, period) by contract (a repeated item is ``UNCHANGED``, an older one
        ``STALE``), so it is safe to retry."""
        body = VerifikasiPendidikanBatch(items=list(items))
        return self.request("PUT", "/api/v1/education-verification", VerifikasiPendidikanBatchResponse,
                            idempotent=True, json=body.model_dump(mode="json"))

    def put_education_verification_item(self, item: VerifikasiPendidikan) -> VerifikasiPendidikanItemStatus:
        """One verification; same rules as the batch."""
        return self.request("PUT", "/api/v1/education-verification/item", VerifikasiPendidikanItemStatus,
                            idempotent=True, json=item.model_dump(mode="json"))

    def get_education_verification(self, nik_anak: str) -> VerifikasiPendidikanAnak:
        """What the registry holds for one child. A POST search: the NIK travels in the body, never in a URL."""
        body = VerifikasiPendidikanSearch(nik_anak=nik_anak)
        return self.request("POST", "/api/v1/education-verification/search", VerifikasiPendidikanAnak,
                            idempotent=True, json=body.model_dump(mode="json"))

    def education_commitment(self, periode: str, no_kk: Sequence[str]) -> KomitmenPendidikanResponse:
        """The PKH education commitment of up to 1,000 families (KK numbers in the body) for a period."""
        body = KomitmenPendidikanRequest(periode=periode, no_kk=list(no_kk))
        return self.request("POST", "/api/v1/education-verification/family-commitment", KomitmenPendidikanResponse,
                            idempotent=True, json=body.model_dump(mode="json"))
