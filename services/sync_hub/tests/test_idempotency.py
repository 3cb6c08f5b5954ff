"""``Idempotency-Key`` at the hub (issue 13 point 7): a repeat answers the first answer and executes nothing; the
same key with another body is 422; keys are per caller; they expire; answers without the header are unchanged.
Stored in the hub's own database (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from services.sync_hub.db import IDEMPOTENCY
from services.sync_hub.tests.test_roles import Hub, StubRuns, hub  # noqa: F401  (fixture)
from shared.contracts.hub import SyncRun

RUNS = "/api/v1/sync-runs"


class CountingRuns(StubRuns):
    def __init__(self) -> None:
        self.submitted = 0

    def submit(self, body: object, trigger: str) -> SyncRun:
        self.submitted += 1
        return super().submit(body, trigger)


def test_a_repeated_start_run_answers_the_first_run_and_queues_nothing(hub: Hub) -> None:  # noqa: F811
    runs = hub.http.app.state.runs = CountingRuns()  # type: ignore[attr-defined]
    admin = {**hub.person("ops", "admin"), "Idempotency-Key": "run-2026-12-03-a"}
    first = hub.http.post(RUNS, json={"systems": ["emis"]}, headers=admin)
    again = hub.http.post(RUNS, json={"systems": ["emis"]}, headers=admin)
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert runs.submitted == 1

    other = hub.http.post(RUNS, json={"systems": ["dapodik"]}, headers=admin)
    assert other.status_code == 422 and other.headers["content-type"] == "application/problem+json"
    assert other.json()["errors"] == [{"field": "Idempotency-Key", "rule": "reused_with_another_request",
                                       "message": other.json()["detail"]}]
    assert other.json()["type"] == "urn:jembatan:problem:idempotency-conflict"
    assert runs.submitted == 1

    # another person's key of the same name is theirs, not a replay of this answer
    mine = hub.http.post(RUNS, json={"systems": ["emis"]},
                         headers={**hub.person("ops2", "admin"), "Idempotency-Key": "run-2026-12-03-a"})
    assert mine.status_code == 202 and mine.json()["id"] != first.json()["id"]
    # without a key, every call executes (unchanged behaviour)
    hub.http.post(RUNS, json={"systems": ["emis"]}, headers=hub.person("ops", "admin"))
    assert runs.submitted == 3


def test_a_repeated_review_decision_is_taken_once(hub: Hub) -> None:  # noqa: F811
    reviewer = {**hub.person("rev", "reviewer"), "Idempotency-Key": "decide-1"}
    body = {"verdict": "no_link", "reason": "not them"}
    first = hub.http.post(f"/api/v1/reviews/{hub.case_id}/decision", json=body, headers=reviewer)
    again = hub.http.post(f"/api/v1/reviews/{hub.case_id}/decision", json=body, headers=reviewer)
    assert first.status_code == again.status_code == 201 and again.json() == first.json()
    # without the key the same call is what it always was: the case is decided already
    plain = hub.http.post(f"/api/v1/reviews/{hub.case_id}/decision", json=body, headers=hub.person("rev", "reviewer"))
    assert plain.status_code == 409


def test_errors_are_replayed_but_a_bad_key_or_an_expired_one_is_not(hub: Hub) -> None:  # noqa: F811
    admin = hub.person("ops", "admin")
    bad = hub.http.post(RUNS, json={}, headers={**admin, "Idempotency-Key": "x" * 256})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "Idempotency-Key"

    invalid = {**admin, "Idempotency-Key": "bad-body"}
    first = hub.http.post(RUNS, json={"systems": ["nowhere"]}, headers=invalid)
    assert first.status_code == 422
    assert hub.http.post(RUNS, json={"systems": ["nowhere"]}, headers=invalid).headers["idempotent-replayed"] == "true"

    runs = hub.http.app.state.runs = CountingRuns()  # type: ignore[attr-defined]
    key = {**admin, "Idempotency-Key": "expires"}
    hub.http.post(RUNS, json={}, headers=key)
    engine = hub.http.app.state.engine  # type: ignore[attr-defined]
    with engine.begin() as conn:
        conn.execute(IDEMPOTENCY.update().values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    hub.http.post(RUNS, json={}, headers=key)
    assert runs.submitted == 2
    with engine.connect() as conn:
        expires = conn.execute(sa.select(IDEMPOTENCY.c.expires_at).where(IDEMPOTENCY.c.key == "expires")).scalar_one()
    assert expires > datetime.now(UTC) + timedelta(hours=23)  # the expired row was replaced by a fresh one
