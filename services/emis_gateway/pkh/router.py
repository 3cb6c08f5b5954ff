"""HTTP routes of PKH requests: parse and delegate. None of them holds a database session: the service
opens short transactions of its own around the call to the hub (which calls back into this gateway)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from pydantic import Field

from services.emis_gateway.base import storable
from services.emis_gateway.deps import InstitutionDep, PrincipalDep, require_client
from services.emis_gateway.pkh.service import PkhRequests
from shared.batching import run_waiting
from shared.contracts.common import Page, Strict
from shared.contracts.emis import PkhAnswer, PkhRequest, PkhRequestStatus
from shared.cursor import row_id_after
from shared.errors import ERROR_RESPONSES, ErrorBody, InvalidInput
from shared.idempotency import IdempotencyKey
from shared.observability import metrics

router = APIRouter(prefix="/api/v1", tags=["pkh requests"], dependencies=[Depends(require_client)])

_NOT_FOUND = {404: {"model": ErrorBody, "description": "No such student, madrasah or request"}, **ERROR_RESPONSES}
SiswaPath = Annotated[str, Path(min_length=1, max_length=64, description="siswa_id")]
RequestPath = Annotated[str, Path(min_length=1, max_length=36, pattern=r"^[0-9a-f-]+$",
                                  description="The request's id")]


async def get_requests(request: Request) -> PkhRequests:
    requests: PkhRequests = request.app.state.pkh
    return requests


RequestsDep = Annotated[PkhRequests, Depends(get_requests)]


class ResultsParams(Strict):
    cursor: str | None = Field(None, min_length=1, max_length=9, pattern=r"^[0-9]+$",
                               description="Opaque: the `next_cursor` of the previous page")
    limit: int = Field(500, ge=1, le=1000)


@router.post("/siswa/{siswa_id}/pkh-request", response_model=PkhRequest, responses=_NOT_FOUND,
             summary="Request Data PKH for one student: asked now, answer saved in the same step "
                     "(200); 202 PENDING when the registry is unreachable (queued, completed later)")
async def request_siswa(siswa_id: SiswaPath, requests: RequestsDep, principal: PrincipalDep,
                        response: Response, _key: IdempotencyKey = None) -> PkhRequest:
    """Request Data PKH for one student: the gateway asks the hub now and saves the answer on the student in the same
    step (200). While the hub or the registry is unreachable the request is queued and answered 202 PENDING; the
    gateway's worker completes it later. Send an `Idempotency-Key` to make a retry return the first answer.
    """
    if not storable(siswa_id):
        raise InvalidInput.field("siswa_id", "characters", "siswa_id contains a NUL character or invalid Unicode")
    # the blocking work (database, the hub) in one hop to a thread; the route itself is asynchronous, so FastAPI
    # validates and serialises the answer on the event loop instead of in a second hop (a ``def`` route costs two:
    # the endpoint, then the response model). The thread waits for the press's batch: one of the batcher's own
    # (``shared.batching.run_waiting``), so that waiting presses are not capped by the default pool
    answer = await run_waiting(requests.presses, requests.request_siswa, siswa_id, principal)
    metrics.pkh_request("emis_gateway", answer.status.value)
    if answer.status is PkhRequestStatus.PENDING:
        response.status_code = status.HTTP_202_ACCEPTED
    return answer


@router.post("/madrasah/{nsm}/pkh-request", response_model=PkhRequest, status_code=status.HTTP_202_ACCEPTED,
             responses=_NOT_FOUND,
             summary="Request Data PKH for every active student of a madrasah (asynchronous: follow the "
                     "progress at /api/v1/pkh-requests/{id})")
def request_madrasah(nsm: InstitutionDep, requests: RequestsDep, principal: PrincipalDep,
                     response: Response, _key: IdempotencyKey = None) -> PkhRequest:
    """Request Data PKH for every active student of a madrasah: answered 202 at once with the request; follow its
    progress at `GET /api/v1/pkh-requests/{id}` and read the answers at `.../results`. Send an `Idempotency-Key` so
    a retry does not start a second request.
    """
    answer = requests.request_madrasah(nsm, principal.name)
    metrics.pkh_request("emis_gateway", answer.status.value)
    response.headers["Location"] = f"/api/v1/pkh-requests/{answer.id}"
    return answer


@router.get("/pkh-requests/{request_id}", response_model=PkhRequest, responses=_NOT_FOUND,
            summary="A PKH request and its progress (a one-student request with its answer)")
def get_request(request_id: RequestPath, requests: RequestsDep, principal: PrincipalDep) -> PkhRequest:
    """A PKH request: status (PENDING, DONE, FAILED), counts, and for a one-student request its answer."""
    return requests.get(request_id, principal)


@router.get("/pkh-requests/{request_id}/results", response_model=Page[PkhAnswer], responses=_NOT_FOUND,
            summary="Each student's answer (reason, PKH data stored, sync date), in request order")
def get_results(request_id: RequestPath, requests: RequestsDep, principal: PrincipalDep,
                params: Annotated[ResultsParams, Query()]) -> Page[PkhAnswer]:
    """Each student's answer of a request (reason, the PKH data stored, sync date), in request order; keyset-paged."""
    return requests.results(request_id, row_id_after(params.cursor, start=-1), params.limit, principal)
