"""Clerical review API: open cases, one case side by side, decisions (with the reviewer) and reversals."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from services.sync_hub.deps import ClientDep, SessionDep
from services.sync_hub.review import service
from services.sync_hub.review.schemas import (
    CasePage,
    CasesQuery,
    CaseView,
    DecisionCreate,
    DecisionView,
    ReversalCreate,
)
from shared.contracts.hub import SourceSystem

router = APIRouter(prefix="/api/v1/reviews", tags=["review"])
CaseId = Annotated[str, Path(min_length=1, max_length=36)]


@router.get("", response_model=CasePage, summary="Review cases (default: open), oldest first")
def list_cases(session: SessionDep, _: ClientDep, query: Annotated[CasesQuery, Query()]) -> CasePage:
    return service.list_cases(session, query)


@router.get("/decisions", response_model=list[DecisionView], summary="Every review decision on one student")
def decisions(session: SessionDep, _: ClientDep, system: SourceSystem,
              student_id: Annotated[str, Query(min_length=1, max_length=64)]) -> list[DecisionView]:
    return service.decisions_for(session, system, student_id)


@router.get("/{case_id}", response_model=CaseView,
            summary="One case: the student and each candidate family side by side, field by field")
def get_case(session: SessionDep, _: ClientDep, case_id: CaseId) -> CaseView:
    return service.get_case(session, case_id)


@router.post("/{case_id}/decision", response_model=DecisionView, status_code=201,
             summary="Decide a case: link to one candidate family, or no link; the reviewer is the caller")
def decide(session: SessionDep, client: ClientDep, case_id: CaseId, body: DecisionCreate) -> DecisionView:
    return service.decide(session, case_id, client, body)


@router.post("/decisions/{decision_id}/reverse", response_model=DecisionView,
             summary="Reverse a decision: the next run matches the student afresh")
def reverse(session: SessionDep, client: ClientDep, decision_id: CaseId, body: ReversalCreate) -> DecisionView:
    return service.reverse(session, decision_id, client, body)
