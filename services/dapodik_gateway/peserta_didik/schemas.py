"""Wire models of this domain beyond shared.contracts."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class RiwayatNilai(BaseModel):
    """One change of the record (``GET /api/v1/peserta-didik/{id}/riwayat``)."""

    field: str = Field(..., examples=["no_kps"])
    old_value: str | bool | int | None
    new_value: str | bool | int | None
    changed_at: datetime
    provenance_id: str | None = Field(None, description="The hub's provenance id of the new value")
    source: str = Field("hub", description="Who changed it: hub, sk (a KIP decree), import, operator")
    changed_by: str | None = Field(None, description="Authenticated client that made the change")
