"""HTTP routes of the siswa domain: parse and delegate."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import Field

from services.emis_gateway.deps import PrincipalDep, SessionDep, WriteSessionDep, require_client
from services.emis_gateway.paging import PageParams
from services.emis_gateway.siswa import service
from shared.contracts.common import Page
from shared.contracts.emis import PkhManualInput, Siswa
from shared.errors import ERROR_RESPONSES, ErrorBody
from shared.etag import IfMatch, etag_of

router = APIRouter(prefix="/api/v1/siswa", tags=["siswa"], dependencies=[Depends(require_client)])


_STALE = {412: {"model": ErrorBody, "description": "`If-Match` names a version the student no longer has"}}


class SiswaListParams(PageParams):
    nsm: str | None = Field(None, pattern=r"^\d{12}$", description="Only the students of this madrasah")


@router.get("", response_model=Page[Siswa],
            summary="Students with their PKH data, keyset-paged by (updated_at, siswa_id): the hub's change feed")
def list_siswa(session: SessionDep, principal: PrincipalDep,
               params: Annotated[SiswaListParams, Query()]) -> Page[Siswa]:
    """Students with their PKH data (the server's, from Kemensos through the hub, and any manual entry) and the
    provenance of each value, keyset-paged by (updated_at, siswa_id); `nsm` filters one madrasah.
    """
    return service.list_siswa(session, params.cursor, params.limit, params.nsm, principal)


@router.get("/{siswa_id}", response_model=Siswa, summary="One student with PKH data and provenance",
            responses={404: {"model": ErrorBody, "description": "No such student"}, **ERROR_RESPONSES})
def get_siswa(session: SessionDep, principal: PrincipalDep, response: Response,
              siswa_id: Annotated[str, Path(min_length=1, max_length=64)]) -> Siswa:
    """One student with PKH data and provenance."""
    record = service.get_siswa(session, siswa_id, principal)
    response.headers["ETag"] = etag_of(record)
    return record


@router.put("/{siswa_id}/pkh-manual", response_model=Siswa, summary="Enter manual PKH data (operator input, shown "
            "apart from the server data; it never overwrites it and never decides the status)",
            responses={404: {"model": ErrorBody, "description": "No such student"}, **_STALE, **ERROR_RESPONSES})
def put_manual(session: WriteSessionDep, principal: PrincipalDep, body: PkhManualInput, response: Response,
               siswa_id: Annotated[str, Path(min_length=1, max_length=64)], if_match: IfMatch = None) -> Siswa:
    """An operator enters PKH data by hand (e.g. from a family's card). It is kept apart from the server data, shown
    beside it, never overwrites it and never decides the PKH status. Operators only (403 for the hub's credential).
    Send the `ETag` of your read as `If-Match` (optional): 412 if the student changed since.
    """
    service.set_manual(session, siswa_id, body, principal, if_match)
    record = service.get_siswa(session, siswa_id, principal)
    response.headers["ETag"] = etag_of(record)
    return record


@router.delete("/{siswa_id}/pkh-manual", response_model=Siswa, summary="Remove the manual PKH data",
               responses={404: {"model": ErrorBody, "description": "No such student"}, **_STALE, **ERROR_RESPONSES})
def delete_manual(session: WriteSessionDep, principal: PrincipalDep, response: Response,
                  siswa_id: Annotated[str, Path(min_length=1, max_length=64)], if_match: IfMatch = None) -> Siswa:
    """Removes the manual PKH data of a student; the server data stays as it is."""
    service.clear_manual(session, siswa_id, principal, if_match)
    record = service.get_siswa(session, siswa_id, principal)
    response.headers["ETag"] = etag_of(record)
    return record
