from __future__ import annotations

from collections.abc import Iterator, Sequence

from shared.contracts.common import Health
from shared.contracts.kemensos import Jenjang, KipIssuance, KipPage, NikLookupRequest, NikLookupResponse
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

    def list_kip(self, cursor: str | None = None, limit: int = 500, kode_wilayah: str | None = None,
                 jenjang: Jenjang | None = None) -> KipPage:
        params: dict[str, str | int] = {"limit": limit}
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
