"""Wire models of the audit API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from shared.contracts.common import Strict


class WhoReadRequest(Strict):
    nik: str = Field(..., pattern=r"^\d{16}$", description="The person's NIK (in the body: never in a URL)")


class AccessEntry(BaseModel):
    seq: int
    at: datetime
    actor_kind: str = Field(..., description="person or client")
    actor: str = Field(..., description="The person's subject (sub) at the identity provider, or the client's name")
    actor_name: str
    roles: list[str]
    route: str = Field(..., description="The route that answered, as declared (its template, not its URL)")
    purpose: str = Field(..., description="Why the role reads personal data")
    records: list[dict[str, str]] = Field(..., description="The records the response showed: kind and id")


class WhoRead(BaseModel):
    nik: str = Field(..., description="The NIK asked about, masked")
    reads: list[AccessEntry] = Field(..., description="Every response that showed it in full, oldest first")


class ChainReport(BaseModel):
    ok: bool
    entries: int = Field(..., description="Entries checked")
    first_broken: int | None = Field(None, description="seq of the first entry whose hash, link or place is wrong")
    reason: str | None = None
    head: str | None = Field(None, description="The last entry's hash (keep it elsewhere to detect truncation)")
