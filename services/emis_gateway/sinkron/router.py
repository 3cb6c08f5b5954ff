"""HTTP routes of the sync screen of a madrasah: parse and delegate."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import Field

from services.emis_gateway.deps import InstitutionDep, SessionDep, require_client
from services.emis_gateway.sinkron import service
from shared.contracts.common import Page, Strict
from shared.contracts.emis import MadrasahSinkron, Perubahan
from shared.cursor import row_id_after
from shared.errors import ERROR_RESPONSES, ErrorBody

router = APIRouter(prefix="/api/v1/madrasah", tags=["sinkron"], dependencies=[Depends(require_client)])
_NOT_FOUND = {404: {"model": ErrorBody, "description": "No such madrasah or run"}, **ERROR_RESPONSES}


class PerubahanParams(Strict):
    sync_run_id: str | None = Field(None, min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$",
                                    description="A run of /sinkron's riwayat; default: the last one")
    cursor: str | None = Field(None, min_length=1, max_length=10, pattern=r"^[0-9]+$",
                               description="Opaque: the `next_cursor` of the previous page")
    limit: int = Field(500, ge=1, le=1000)


@router.get("/{nsm}/sinkron", response_model=MadrasahSinkron, responses=_NOT_FOUND,
            summary="When the madrasah last synced, what that sync changed (counts per outcome and field), and "
                    "the runs before")
def get_sinkron(session: SessionDep, nsm: InstitutionDep) -> MadrasahSinkron:
    """The madrasah's sync screen: the time of the last sync run that touched it, what that run changed (counts per
    outcome and per field) and the earlier runs, newest first.
    """
    return service.sinkron(session, nsm)


@router.get("/{nsm}/sinkron/perubahan", response_model=Page[Perubahan], responses=_NOT_FOUND,
            summary="The values a sync run (default: the last) changed on the madrasah's students: before and after")
def get_perubahan(session: SessionDep, nsm: InstitutionDep,
                  params: Annotated[PerubahanParams, Query()]) -> Page[Perubahan]:
    """Every value a sync run wrote on this madrasah's students, with the value it replaced and the field; `run_id`
    names a run (default: the last one). Keyset-paged.
    """
    after = row_id_after(params.cursor)
    return service.perubahan(session, nsm, params.sync_run_id, after, params.limit)
