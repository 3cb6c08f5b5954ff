"""The change feed's models (additions to ``shared.contracts.kemensos``; candidates to move there)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from shared.contracts.common import Page, Strict
from shared.contracts.kemensos import Keluarga, Pkh


class ChangesQuery(Strict):
    cursor: str | None = Field(None, max_length=200, description="`next_cursor` of the previous page")
    limit: int = Field(500, ge=1, le=1000, description="Page size, 1..1000")


class ChangeKind(StrEnum):
    KELUARGA = "keluarga"
    PKH = "pkh"


class RegistryChange(BaseModel):
    """The current state of one changed record. A record changed again since moves to the feed's end, so a
    reader that follows the cursor sees every record's latest state (older states are not kept)."""

    kind: ChangeKind
    no_kk: str = Field(..., description="The family's current KK number")
    version: int = Field(..., description="Registry sequence of this record's last change; unique registry-wide")
    updated_at: datetime
    keluarga: Keluarga | None = Field(None, description="kind=keluarga: the family with its latest PKH")
    no_kk_lama: list[str] = Field(default_factory=list, description="kind=keluarga: KK numbers held before")
    pkh: Pkh | None = Field(None, description="kind=pkh: the membership of one period")


class ChangePage(Page[RegistryChange]):
    """Unlike other pages, `next_cursor` is set on the last page too: it points after the last change seen,
    so a reader keeps it and resumes from there later. `has_more` says whether to ask again now."""

    has_more: bool = Field(..., description="More changes are waiting: ask again now with `next_cursor`")
    observed_seq: int = Field(..., description="Registry change sequence this page reflects")
