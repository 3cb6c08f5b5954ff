"""Clerical review API: open cases, one case side by side, decisions (with the reviewer) and reversals.

Only people with the reviewer role read cases and decide them; the decision names the person (the subject of
their token), never a client. Every response that shows a full NIK, KK number or name is written to the
access log (audit/) in the same transaction.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from services.sync_hub.audit import service as audit
from services.sync_hub.deps import PURPOSE, Reader, Reviewer, Role, SessionDep, route_of
from services.sync_hub.review import service
from services.sync_hub.review.schemas import (
    CasePage,
    CasesQuery,
    CaseView,
    DecisionCreate,
    DecisionView,
    ReversalCreate,
)
from shared.auth import Principal
from shared.contracts.hub import SourceSystem
from shared.idempotency import IdempotencyKey
from shared.openapi import errors

router = APIRouter(prefix="/api/v1/reviews", tags=["review"])
CaseId = Annotated[str, Path(min_length=1, max_length=36)]


def _logged(request: Request, session: SessionDep, principal: Principal, access: audit.Access,
            names: bool = False) -> None:
    """Log the response if it shows a full NIK or KK number (or names: a case view always does)."""
    if names or access.niks or access.kks:
        audit.record(session, principal, route_of(request), PURPOSE[Role.REVIEWER], access)


@router.get("", response_model=CasePage, summary="Review cases (default: open), oldest first (no personal data)")
def list_cases(session: SessionDep, _: Reader, query: Annotated[CasesQuery, Query()]) -> CasePage:
    """Clerical review cases (default: open), oldest first, without personal data; open one with `GET
    /api/v1/reviews/{case_id}`.
    """
    return service.list_cases(session, query)


@router.get("/decisions", response_model=list[DecisionView], summary="Every review decision on one student")
def decisions(request: Request, session: SessionDep, principal: Reviewer, system: SourceSystem,
              student_id: Annotated[str, Query(min_length=1, max_length=64)]) -> list[DecisionView]:
    """Every review decision taken on one student (`system`, `student_id`), reversed ones included, newest first."""
    views = service.decisions_for(session, system, student_id)
    _logged(request, session, principal, service.decisions_access(views))
    return views


@router.get("/{case_id}", response_model=CaseView,
            summary="One case: the student and each candidate family side by side, field by field")
def get_case(request: Request, session: SessionDep, principal: Reviewer, case_id: CaseId) -> CaseView:
    """One case: the student and each candidate registry family side by side, field by field. Shows personal data to
    the reviewer, and that read is written to the access log.
    """
    view = service.get_case(session, case_id)
    _logged(request, session, principal, service.case_access(view), names=True)
    return view


@router.post("/{case_id}/decision", response_model=DecisionView, status_code=201,
             summary="Decide a case: link to one candidate family, or no link; the reviewer is the person calling",
             responses=errors(e409="The case is not open any more (already decided)"))
def decide(request: Request, session: SessionDep, principal: Reviewer, case_id: CaseId,
           body: DecisionCreate, _key: IdempotencyKey = None) -> DecisionView:
    """Decide a case (reviewer role): link the student to one candidate family, or record that none is the same people;
    the decision carries the reviewer. 409 when the case is already decided. Send an `Idempotency-Key` so a retry
    answers the first decision.
    """
    view = service.decide(session, case_id, principal.name, body)
    _logged(request, session, principal, service.decisions_access([view]))
    return view


@router.post("/decisions/{decision_id}/reverse", response_model=DecisionView,
             summary="Reverse a decision: the next run matches the student afresh",
             responses=errors(e409="The decision was already reversed"))
def reverse(request: Request, session: SessionDep, principal: Reviewer, decision_id: CaseId,
            body: ReversalCreate, _key: IdempotencyKey = None) -> DecisionView:
    """Reverse a decision (reviewer role): the link is dropped and the next run matches the student afresh. 409 when it
    is already reversed.
    """
    view = service.reverse(session, decision_id, principal.name, body)
    _logged(request, session, principal, service.decisions_access([view]))
    return view
