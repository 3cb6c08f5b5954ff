"""Change feed route. Parse and delegate only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from services.kemensos_mock.changes import service
from services.kemensos_mock.changes.schemas import ChangesQuery
from services.kemensos_mock.deps import API_DEPENDENCIES, ClientDep, FaultsDep, SessionDep
from services.kemensos_mock.faults.service import FeedFault, mark
from services.kemensos_mock.openapi import FAULTS, UNAUTHORIZED, invalid
from shared.contracts.kemensos import ChangePage

router = APIRouter(prefix="/api/v1", tags=["changes"], dependencies=API_DEPENDENCIES,
                   responses={401: UNAUTHORIZED, **FAULTS})


@router.get(
    "/changes",
    response_model=ChangePage,
    summary="Feed of changed families, their members and PKH memberships",
    description=(
        "Every family (`kind=keluarga`), PKH membership (`kind=pkh`) and removed family "
        "(`kind=keluarga_dihapus`) in (`updated_at`, `version`) order, `limit` (1..1000, default 500) per "
        "page. Ask again with `next_cursor` while `has_more` is true; then keep the last `next_cursor` (it is "
        "set on the last page too) and ask again later to get only what changed since. Start without a "
        "cursor to read the whole registry.\n\n"
        "A family item is its whole current state: the family with its latest PKH (`keluarga`), **every "
        "member** (`anggota`: NIK, name, sex, birth date, mother's maiden name, relation), and the KK numbers "
        "it held before (`no_kk_lama`). Any change to a family or its members (an edit, a new KK number, a "
        "member joining, leaving or moving) moves the family to the feed's end with a new `version`. Apply a "
        "family item by replacing its members, taking those NIKs away from any other family you hold (a NIK "
        "is in one family at a time; that family's own item follows), and dropping families held under a "
        "`no_kk_lama` number. A PKH item says whether its period is the family's latest (`latest`).\n\n"
        "Rows sharing one timestamp are never skipped: the registry-wide `version` breaks ties, and writers "
        "take versions one at a time in commit order, so a change committed while a reader pages always "
        "lands after the reader's cursor. Each page is read from one snapshot. Items may come again (a page "
        "duplicated or re-delivered): apply them idempotently by `version`.\n\n"
        "**Ranges.** `since_version` / `until_version` keep only the changes whose `version` is above / up to "
        "them, in the same order and with the same cursors. A first load can so be read as several ranges at "
        "once, up to the `observed_seq` of its first page: a family, membership or tombstone changed while the "
        "ranges are read moves above that sequence and is read from there on (`since_version`) with its new "
        "state."
    ),
    responses={200: {"content": {"application/json": {"example": {
        "items": [
            {"kind": "keluarga", "no_kk": "3201010101260001", "version": 1042,
             "updated_at": "2026-08-01T03:15:00Z",
             "keluarga": {"no_kk": "3201010101260001", "kode_wilayah": "3201011001", "desil": 2,
                          "dtsen_triwulan": "2026-Q3", "no_kks": None, "version": 1042,
                          "updated_at": "2026-08-01T03:15:00Z",
                          "pkh": {"status": "AKTIF", "komponen": ["SD"], "periode": "2026 tahap III",
                                  "tahun": 2026, "tahap": 3}},
             "anggota": [{"nik": "3201014705120001", "nama": "SITI RAHAYU", "jenis_kelamin": "P",
                          "tempat_lahir": "BOGOR", "tanggal_lahir": "2012-05-07", "nama_ibu_kandung": "AMINAH",
                          "hubungan_keluarga": "ANAK"}],
             "no_kk_lama": ["3201010101250007"]},
            {"kind": "pkh", "no_kk": "3201010202260002", "version": 1043, "updated_at": "2026-08-01T03:15:00Z",
             "pkh": {"status": "GRADUASI", "komponen": [], "periode": "2026 tahap III", "tahun": 2026,
                     "tahap": 3}, "latest": True},
            {"kind": "keluarga_dihapus", "no_kk": "3578010404260004", "version": 1044,
             "updated_at": "2026-08-01T03:16:00Z"},
        ],
        "next_cursor": "WyIyMDI2LTA4LTAxVDAzOjE2OjAwKzAwOjAwIiwiMTA0NCJd", "has_more": False,
        "observed_seq": 1044}}}},
        422: invalid("cursor", "opaque_cursor", "cursor is not one this service issued")},
)
def list_changes(session: SessionDep, query: Annotated[ChangesQuery, Query()], client: ClientDep,
                 faults: FaultsDep, request: Request) -> Response:
    body, fault = service.serve_changes(session, query, faults, client)
    if fault is not FeedFault.NONE:
        mark(request.state, fault.value)
    # serialised once, from plain data (``service.page_data``): returning the model has FastAPI dump it, validate
    # the dump against ``response_model`` and serialise it again, which for a page of 1,000 families with their
    # members costs more than building it
    return Response(content=body, media_type="application/json")
