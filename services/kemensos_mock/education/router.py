"""Education verification routes: intake from the hub, read per child. Parse and delegate only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path

from services.kemensos_mock.deps import API_DEPENDENCIES, ClientDep, SessionDep, WriteSessionDep
from services.kemensos_mock.education import service
from services.kemensos_mock.openapi import FAULTS, UNAUTHORIZED, invalid
from shared.contracts.kemensos import (
    VerifikasiPendidikanAnak,
    VerifikasiPendidikanBatch,
    VerifikasiPendidikanBatchResponse,
)

router = APIRouter(prefix="/api/v1/education-verification", tags=["education"], dependencies=API_DEPENDENCIES,
                   responses={401: UNAUTHORIZED, **FAULTS})

_ITEM = {"nik_anak": "3201014705120001", "periode": "2026-S1", "enrolled": True, "active": True,
         "npsn": "20212345", "nsm": None, "sumber": "DAPODIK", "verified_at": "2026-08-01T03:15:00Z"}


@router.put(
    "",
    response_model=VerifikasiPendidikanBatchResponse,
    summary="Receive education verifications from the hub (PKH education commitment)",
    description=(
        "Up to 1,000 items, applied in order; each says whether a child (`nik_anak`) was enrolled and "
        "active in a period (`2026-S1`/`2026-S2` semester or `2026-T1`..`2026-T4` PKH stage) and at which "
        "school (`npsn` and/or `nsm`). **Idempotent per (child, period)**: each item is answered "
        "`CREATED`, `UPDATED` (a newer verification with other facts), `UNCHANGED` (the same as stored: a "
        "repeated item changes nothing), `STALE` (verified earlier than the stored one: ignored) or "
        "`NOT_FOUND` (the NIK is no member of the registry: not stored). Every state received is kept as "
        "history. A malformed batch (bad NIK, more than 1,000 items, an unknown field, an active child "
        "not enrolled, an enrolled child without a school, a time in the future) is a 422 naming the "
        "field and the rule, and nothing is stored."
    ),
    responses={200: {"content": {"application/json": {"example": {"results": [
        {"nik_anak": "3201014705120001", "periode": "2026-S1", "status": "CREATED"},
        {"nik_anak": "3201014705120001", "periode": "2026-S1", "status": "UNCHANGED"}]}}}},
        422: invalid("items[0]", "school_required", "an enrolled child needs the school's npsn or nsm")},
)
def put_verifications(
    session: WriteSessionDep,
    client: ClientDep,
    batch: Annotated[VerifikasiPendidikanBatch, Body(openapi_examples={
        "semester": {"summary": "One child, first semester 2026", "value": {"items": [_ITEM]}},
        "putus": {"summary": "A child who dropped out", "value": {"items": [
            {**_ITEM, "periode": "2026-S2", "enrolled": False, "active": False, "npsn": None}]}},
    })],
) -> VerifikasiPendidikanBatchResponse:
    return service.put_batch(session, batch, client)


@router.get(
    "/{nik_anak}",
    response_model=VerifikasiPendidikanAnak,
    summary="Education verifications of one child",
    description="The current verification per period (newest period first) and the history of every state "
                "received (newest first). A child without any is answered with empty lists.",
    responses={200: {"content": {"application/json": {"example": {
        "nik_anak": "3201014705120001",
        "current": [{**{k: v for k, v in _ITEM.items() if k != "nik_anak"}, "received_at": "2026-08-01T03:16:00Z",
                     "client": "sync_hub"}],
        "history": [{**{k: v for k, v in _ITEM.items() if k != "nik_anak"}, "received_at": "2026-08-01T03:16:00Z",
                     "client": "sync_hub"}]}}}},
        422: invalid("nik_anak", "string_pattern_mismatch", "String should match pattern '^\\\\d{16}$'")},
)
def get_verifications(
    session: SessionDep,
    nik_anak: Annotated[str, Path(pattern=r"^\d{16}$", description="The child's NIK",
                                  examples=["3201014705120001"])],
) -> VerifikasiPendidikanAnak:
    return service.of_child(session, nik_anak)
