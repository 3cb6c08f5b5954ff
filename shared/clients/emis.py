from __future__ import annotations

from shared.clients._gateway import GatewayClient
from shared.contracts.common import Page
from shared.contracts.emis import Madrasah, Siswa


class EmisClient(GatewayClient[Siswa]):
    students_path = "/api/v1/siswa"
    student_model = Siswa

    def list_madrasah(self, cursor: str | None = None, limit: int = 500) -> Page[Madrasah]:
        params: dict[str, str | int] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        return self.request("GET", "/api/v1/madrasah", Page[Madrasah], idempotent=True, params=params)
