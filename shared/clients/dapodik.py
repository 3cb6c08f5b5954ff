from __future__ import annotations

from shared.clients._gateway import GatewayClient
from shared.contracts.common import Page
from shared.contracts.dapodik import PesertaDidik, Sekolah


class DapodikClient(GatewayClient[PesertaDidik]):
    students_path = "/api/v1/peserta-didik"
    student_model = PesertaDidik

    def list_sekolah(self, cursor: str | None = None, limit: int = 500) -> Page[Sekolah]:
        params: dict[str, str | int] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        return self.request("GET", "/api/v1/sekolah", Page[Sekolah], idempotent=True, params=params)
