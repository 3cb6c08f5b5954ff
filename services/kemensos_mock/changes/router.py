"""Change feed route. Parse and delegate only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from services.kemensos_mock.changes import service
from services.kemensos_mock.changes.schemas import ChangePage, ChangesQuery
from services.kemensos_mock.deps import API_DEPENDENCIES, SessionDep
from services.kemensos_mock.openapi import FAULTS, UNAUTHORIZED, invalid

router = APIRouter(prefix="/api/v1", tags=["changes"], dependencies=API_DEPENDENCIES,
                   responses={401: UNAUTHORIZED, **FAULTS})


@router.get(
    "/changes",
    response_model=ChangePage,
    summary="Feed of changed families and PKH memberships",
    description=(
        "Every family (`kind=keluarga`) and PKH membership (`kind=pkh`) in (`updated_at`, `version`) order, "
        "`limit` (1..1000, default 500) per page. Ask again with `next_cursor` while `has_more` is true; "
        "then keep the last `next_cursor` (it is set on the last page too) and ask again later to get only "
        "what changed since. A record changed again moves to the end with its new state, and rows sharing a "
        "timestamp are never skipped (the registry-wide `version` breaks ties). Start without a cursor to "
        "read the whole registry."
    ),
    responses={200: {"content": {"application/json": {"example": {
        "items": [
            {"kind": "pkh", "no_kk": "3201010101260001", "version": 1043, "updated_at": "2026-08-01T03:15:00Z",
             "keluarga": None, "no_kk_lama": [],
             "pkh": {"status": "GRADUASI", "komponen": [], "periode": "2026 tahap III", "tahun": 2026,
                     "tahap": 3}},
        ],
        "next_cursor": "WyIyMDI2LTA4LTAxVDAzOjE1OjAwKzAwOjAwIiwiMTA0MyJd", "has_more": False,
        "observed_seq": 1043}}}},
        422: invalid("cursor", "opaque_cursor", "cursor is not one this service issued")},
)
def list_changes(session: SessionDep, query: Annotated[ChangesQuery, Query()]) -> ChangePage:
    return service.list_changes(session, query)
