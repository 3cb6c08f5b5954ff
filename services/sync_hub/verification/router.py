"""The education verifications the hub sent, with their provenance (``GET /api/v1/education-verifications``)."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Query

from services.sync_hub.deps import Reader, SessionDep
from services.sync_hub.verification import repository
from shared.clock import as_utc
from shared.contracts.common import Page
from shared.contracts.hub import EducationVerification, SourceSystem, VerificationStatus
from shared.errors import InvalidInput
from shared.nik import mask

router = APIRouter(prefix="/api/v1/education-verifications", tags=["education verification"])
_UUID = re.compile(r"^[0-9a-f-]{36}$")


@router.get("", response_model=Page[EducationVerification],
            summary="Education verifications sent to Kemensos for one PKH period, with where each came from")
def list_verifications(
    session: SessionDep, _: Reader,
    periode: Annotated[str, Query(pattern=r"^\d{4}-T[1-4]$", examples=["2026-T3"])],
    status: VerificationStatus | None = None,
    province: Annotated[str | None, Query(pattern=r"^\d{2}$", description="School province (2 digits)")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> Page[EducationVerification]:
    """The education verifications the hub sent to Kemensos for one PKH period (`periode`), each with its attendance
    and the gateway record it came from; KK numbers masked. Keyset-paged.
    """
    if cursor is not None and not _UUID.match(cursor):
        raise InvalidInput.field("cursor", "opaque_cursor", "cursor is not one this service issued")
    rows = repository.page(session, periode, status.value if status else None, province, cursor, limit + 1)
    items = [EducationVerification(
        provenance_id=r["provenance_id"], periode=r["periode"], nik_anak=mask(r["nik_anak"]),
        no_kk=mask(r["no_kk"]) or None, enrolled=r["enrolled"], active=r["active"],
        months_below_85=r["months_below"], source_system=SourceSystem(r["source_system"]),
        source_record=r["source_record"], source_version=r["source_version"], school=r["school"],
        region=r["region"], other_records=r["other_records"], status=VerificationStatus(r["status"]),
        detail=r["detail"], version=r["version"], observed_at=as_utc(r["observed_at"]),
        sync_run_id=r["sync_run_id"], decided_at=as_utc(r["decided_at"]),
        sent_at=as_utc(r["sent_at"]) if r["sent_at"] else None) for r in rows[:limit]]
    nxt = rows[limit - 1]["provenance_id"] if len(rows) > limit else None
    return Page[EducationVerification](items=items, next_cursor=nxt)
