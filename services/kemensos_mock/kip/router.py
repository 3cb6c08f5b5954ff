"""KIP routes: keyset-paged listing; admin upsert. Parse and delegate only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, Response

from services.kemensos_mock.deps import ADMIN_DEPENDENCIES, API_DEPENDENCIES, SessionDep, WriteSessionDep
from services.kemensos_mock.kip import service
from services.kemensos_mock.kip.schemas import KipQuery
from services.kemensos_mock.openapi import FAULTS, UNAUTHORIZED, invalid, ok
from shared.contracts.kemensos import KipIssuance, KipPage, KipRecord

router = APIRouter(prefix="/api/v1", tags=["kip"], dependencies=API_DEPENDENCIES,
                   responses={401: UNAUTHORIZED, **FAULTS})
admin_router = APIRouter(prefix="/api/v1/admin", tags=["admin"], dependencies=ADMIN_DEPENDENCIES,
                         responses={401: UNAUTHORIZED})

_ITEM = {"no_kip": "K7Q2ZP", "nama": "SITI RAHAYU", "tanggal_lahir": "2012-05-07", "nama_ibu_kandung": "AMINAH",
         "kode_wilayah": "3201011001", "jenjang": "SD", "nik": "3201014705120001", "tahun": 2025,
         "version": 1033, "updated_at": "2026-07-30T10:00:00Z"}


@router.get(
    "/kip",
    response_model=KipPage,
    summary="List KIP issuances, keyset-paged",
    description=(
        "Issuances in (`updated_at`, id) order, `limit` (1..1000, default 500) per page. Pass `next_cursor` "
        "back as `cursor` until it is null: every issuance comes exactly once, also when many share one "
        "`updated_at`. Filter by `kode_wilayah` prefix (2, 4, 6 or 10 digits: province, kab/kota, "
        "kecamatan, desa) and `jenjang`. The `nik` of an issuance is as recorded and often missing or "
        "wrong. Unknown query parameters are a 422."
    ),
    responses={200: {"content": {"application/json": {"example": {
        "items": [_ITEM], "next_cursor": "WyIyMDI2LTA3LTMwVDEwOjAwOjAwKzAwOjAwIiwiNDIiXQ", "observed_seq": 1042}}}},
        422: invalid("limit", "less_than_equal", "Input should be less than or equal to 1000")},
)
def list_kip(session: SessionDep, query: Annotated[KipQuery, Query()]) -> Response:
    # serialised once (``response_model`` stays for the schema), not dumped, validated and serialised again
    return Response(content=service.list_kip(session, query).model_dump_json(), media_type="application/json")


@admin_router.put(
    "/kip",
    response_model=KipIssuance,
    summary="Insert or replace a KIP issuance (admin)",
    description="Keyed by `no_kip`; the issuance takes a new version and moves to the end of the listing.",
    responses={200: ok(_ITEM),
               422: invalid("no_kip", "string_pattern_mismatch", "String should match pattern '^[A-Z0-9]{6}$'")},
)
def put_kip(
    session: WriteSessionDep,
    record: Annotated[KipRecord, Body(openapi_examples={"sd": {"summary": "An SD issuance", "value": {
        k: v for k, v in _ITEM.items() if k not in ("version", "updated_at")}}})],
) -> KipIssuance:
    return service.put_kip(session, record)
