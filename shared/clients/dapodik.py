from __future__ import annotations

from shared.clients._gateway import GatewayClient
from shared.contracts.common import Page
from shared.contracts.dapodik import HUB_FEED_PATH, PesertaDidik, Sekolah


class DapodikClient(GatewayClient[PesertaDidik]):
    # The hub syncs from its feed: records held back by validation (INVALID findings) are not in it.
    students_path = HUB_FEED_PATH
    student_model = PesertaDidik

    def list_sekolah(self, cursor: str | None = None, limit: int = 500) -> Page[Sekolah]:
        params: dict[str, str | int] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        return self.request("GET", "/api/v1/sekolah", Page[Sekolah], idempotent=True, params=params)
