"""The hub's feed: every student the hub may sync, i.e. validated without an INVALID finding; records held
back by validation are absent (and 404 when named) until the operator fixes them."""

from __future__ import annotations

from sqlmodel import Session

from services.dapodik_gateway.peserta_didik import service as pd_service
from services.dapodik_gateway.validasi import service as validasi_service
from shared.contracts.common import Page
from shared.contracts.dapodik import PesertaDidik, StatusValidasi
from shared.errors import NotFound


def feed(session: Session, cursor: str | None, limit: int, npsn: str | None = None) -> Page[PesertaDidik]:
    return pd_service.list_peserta_didik(session, cursor, limit, npsn, below_status=StatusValidasi.INVALID)


def one(session: Session, peserta_didik_id: str) -> PesertaDidik:
    row = pd_service.require_record(session, peserta_didik_id)
    if row["status_validasi"] is None or row["status_validasi"] >= StatusValidasi.INVALID:
        codes = validasi_service.invalid_findings(session, peserta_didik_id)
        why = f"invalid findings: {', '.join(codes)}" if codes else "not validated yet"
        raise NotFound.field("peserta_didik_id", "held_back_invalid",
                             f"peserta_didik {peserta_didik_id} is held back from sync ({why}); "
                             "see GET /api/v1/peserta-didik/{id}/validasi")
    return pd_service.with_provenance(session, row)
