"""``/api/v1/sekolah/{npsn}/sinkronisasi[/keluar|/masuk]``: parse and delegate."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from services.dapodik_gateway import paging
from services.dapodik_gateway.access import school_scope
from services.dapodik_gateway.deps import SessionDep, authenticate, only_query_params
from services.dapodik_gateway.sinkronisasi import service
from shared.contracts.common import Page
from shared.contracts.dapodik import PerubahanKeluar, PerubahanMasuk, Sinkronisasi
from shared.errors import ERROR_RESPONSES, ErrorBody

router = APIRouter(prefix="/api/v1/sekolah/{npsn}/sinkronisasi", tags=["sinkronisasi"],
                   dependencies=[Depends(authenticate), Depends(school_scope)])
_NOT_FOUND = {404: {"model": ErrorBody, "description": "No such school"}, **ERROR_RESPONSES}
Npsn = Annotated[str, Path(pattern=paging.NPSN_PATTERN)]


@router.get("", response_model=Sinkronisasi, responses=_NOT_FOUND, dependencies=[only_query_params()],
            summary="The school's sync screen: last sync, counts of local changes waiting and records held "
                    "back, and what the last sync run did (n_create / n_update / n_konflik)")
def sinkronisasi(session: SessionDep, npsn: Npsn) -> Sinkronisasi:
    """The school's sync screen as Dapodik's operators know it: last sync, counts of local changes waiting to go out
    and of records held back by validation, and what the last sync run did (n_create / n_update / n_konflik).
    """
    return service.screen(session, npsn)


@router.get("/keluar", response_model=Page[PerubahanKeluar], responses=_NOT_FOUND,
            dependencies=[only_query_params("cursor", "limit")],
            summary="Local changes waiting to go out: records the hub has not read since they changed")
def keluar(session: SessionDep, npsn: Npsn, cursor: paging.CursorParam = None,
           limit: paging.LimitParam = paging.DEFAULT_LIMIT) -> Response:
    """Local changes the hub has not read yet (records changed after the school's read position). Keyset-paged."""
    return paging.json_response(service.outgoing(session, npsn, cursor, limit))


@router.get("/masuk", response_model=Page[PerubahanMasuk], responses=_NOT_FOUND,
            dependencies=[only_query_params("sync_run_id", "cursor", "limit")],
            summary="Incoming changes applied by the last sync run (or the one named): every value written, "
                    "the value it replaced, created or updated")
def masuk(session: SessionDep, npsn: Npsn,
          sync_run_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
          cursor: paging.CursorParam = None, limit: paging.LimitParam = paging.DEFAULT_LIMIT) -> Response:
    """Every value the last sync run (or the run named by `run_id`) wrote on this school's students, with the value it
    replaced, and whether the record was created or updated. Keyset-paged.
    """
    return paging.json_response(service.incoming(session, npsn, sync_run_id, cursor, limit))
