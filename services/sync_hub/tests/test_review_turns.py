"""Two reviewers acting on one case or one decision at once (PostgreSQL; the hub's SQLite writers begin IMMEDIATE
and hold the whole database): the second waits for the first and gets 409. Before, a second reversal of one decision
did not wait, answered 200 as well and wrote its reviewer and reason over the first's."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from services.sync_hub.review import service
from services.sync_hub.review.models import ReviewDecisionRow
from services.sync_hub.review.schemas import DecisionCreate, ReversalCreate, Verdict
from services.sync_hub.tests.test_roles import seed
from shared.db import session_scope
from shared.errors import Conflict
from shared.testing import second_waits_for_first

pytestmark = pytest.mark.postgres


def test_two_reversals_of_one_decision_are_a_success_and_a_conflict(pg_engine: Engine) -> None:
    _, decision_id, _ = seed(pg_engine)
    first, then = second_waits_for_first(
        pg_engine, lambda s: service.reverse(s, decision_id, "reviewer-ana", ReversalCreate(reason="wrong scan")),
        lambda s: service.reverse(s, decision_id, "reviewer-budi", ReversalCreate(reason="another reason")))
    assert first.reversed_by == "reviewer-ana"
    assert isinstance(then, Conflict), then
    with session_scope(pg_engine) as s:
        row = s.get(ReviewDecisionRow, decision_id)
        assert row is not None and (row.reversed_by, row.reversal_reason) == ("reviewer-ana", "wrong scan")


def test_two_decisions_on_one_case_are_a_success_and_a_conflict(pg_engine: Engine) -> None:
    case_id, _, _ = seed(pg_engine)
    decide = lambda who: lambda s: service.decide(  # noqa: E731
        s, case_id, who, DecisionCreate(verdict=Verdict.NO_LINK, reason="not the same people"))
    first, then = second_waits_for_first(pg_engine, decide("reviewer-ana"), decide("reviewer-budi"))
    assert first.reviewer == "reviewer-ana"
    assert isinstance(then, Conflict), then
