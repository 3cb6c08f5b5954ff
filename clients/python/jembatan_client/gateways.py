"""The EMIS 4.0 and Dapodik gateways: students, edits with ETag / If-Match, Request Data PKH, KIP SK."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import TypeAdapter

from jembatan_client._base import BaseClient
from jembatan_client.models import PermintaanPkh, PesertaDidik, PkhRequest, Siswa, SkKipResponse

R = TypeVar("R")


@dataclass(frozen=True)
class Versioned(Generic[R]):
    """A record with its ``ETag``: pass ``etag`` back to the edit so a concurrent change is refused (412)."""

    record: R
    etag: str | None


class EmisClient(BaseClient):
    def iter_siswa(self, nsm: str | None = None, limit: int = 500) -> Iterator[Siswa]:
        return self.iterate("/api/v1/siswa", Siswa, {"nsm": nsm, "limit": limit})

    def get_siswa(self, siswa_id: str) -> Versioned[Siswa]:
        r = self.request("GET", f"/api/v1/siswa/{siswa_id}")
        return Versioned(Siswa.model_validate_json(r.content), r.headers.get("etag"))

    def set_manual_pkh(self, siswa_id: str, data: dict[str, Any], if_match: str | None = None) -> Versioned[Siswa]:
        r = self.request("PUT", f"/api/v1/siswa/{siswa_id}/pkh-manual", json=data,
                         headers={"If-Match": if_match} if if_match else None)
        return Versioned(Siswa.model_validate_json(r.content), r.headers.get("etag"))

    def request_pkh(self, siswa_id: str, *, idempotency_key: str | bool = True) -> PkhRequest:
        return self.send_model("POST", f"/api/v1/siswa/{siswa_id}/pkh-request", PkhRequest,
                               idempotency_key=idempotency_key)

    def request_pkh_madrasah(self, nsm: str, *, idempotency_key: str | bool = True) -> PkhRequest:
        return self.send_model("POST", f"/api/v1/madrasah/{nsm}/pkh-request", PkhRequest,
                               idempotency_key=idempotency_key)

    def get_pkh_request(self, request_id: str) -> PkhRequest:
        return self.get_model(f"/api/v1/pkh-requests/{request_id}", PkhRequest)


class DapodikClient(BaseClient):
    def iter_peserta_didik(self, npsn: str | None = None, limit: int = 500) -> Iterator[PesertaDidik]:
        return self.iterate("/api/v1/peserta-didik", PesertaDidik, {"npsn": npsn, "limit": limit})

    def get_peserta_didik(self, peserta_didik_id: str) -> Versioned[PesertaDidik]:
        r = self.request("GET", f"/api/v1/peserta-didik/{peserta_didik_id}")
        return Versioned(PesertaDidik.model_validate_json(r.content), r.headers.get("etag"))

    def edit_peserta_didik(self, peserta_didik_id: str, fields: dict[str, Any],
                           if_match: str | None = None) -> Versioned[PesertaDidik]:
        """PATCH the given fields (not retried: a PATCH is not idempotent in general). ``if_match``: the ETag you
        read; ``PreconditionFailed`` when someone else edited the record since."""
        r = self.request("PATCH", f"/api/v1/peserta-didik/{peserta_didik_id}", json=fields,
                         headers={"If-Match": if_match} if if_match else None)
        return Versioned(PesertaDidik.model_validate_json(r.content), r.headers.get("etag"))

    def request_pkh(self, peserta_didik_id: str, *, idempotency_key: str | bool = True) -> PermintaanPkh:
        return self.send_model("POST", f"/api/v1/peserta-didik/{peserta_didik_id}/pkh-request", PermintaanPkh,
                               idempotency_key=idempotency_key)

    def apply_kip_sk(self, sk: dict[str, Any], *, idempotency_key: str | bool = True) -> SkKipResponse:
        return self.send_model("POST", "/api/v1/kip/sk", SkKipResponse, sk, idempotency_key=idempotency_key)

    def hub_one(self, peserta_didik_id: str) -> PesertaDidik:
        return TypeAdapter(PesertaDidik).validate_json(
            self.request("GET", f"/api/v1/hub/peserta-didik/{peserta_didik_id}").content)
