"""The access log's API: who read a person's data (auditors), and whether the log is intact."""

from __future__ import annotations

from fastapi import APIRouter, Request

from services.sync_hub.audit import service
from services.sync_hub.audit.schemas import ChainReport, WhoRead, WhoReadRequest
from services.sync_hub.deps import PURPOSE, Auditor, ChainChecker, Role, SessionDep, route_of

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


@router.post("/who-read", response_model=WhoRead,
             summary="Who read this person's data: every response that showed the NIK in full (auditor)")
def who_read(request: Request, session: SessionDep, principal: Auditor, body: WhoReadRequest) -> WhoRead:
    """The NIK travels in the body, never in a URL. The question is itself a read of the person's data and is
    logged like any other (after the answer is taken, so the answer does not contain it)."""
    answer = service.who_read(session, body.nik)
    access = service.Access(records=[("who_read", answer.nik)])
    access.nik(body.nik)
    service.record(session, principal, route_of(request), PURPOSE[Role.AUDITOR], access)
    return answer


@router.get("/verify", response_model=ChainReport,
            summary="Check the access log's hash chain; names the first entry that was edited, removed or moved")
def verify(session: SessionDep, _: ChainChecker) -> ChainReport:
    """Checks the access log's hash chain and names the first entry that was edited, removed or moved (auditor role)."""
    return service.verify(session)
