"""The sync hub: runs and their outcomes, review, provenance, verifications, families at risk, ledger, audit."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from jembatan_client._base import BaseClient
from jembatan_client.models import (
    CaseSummary,
    CaseView,
    DecisionView,
    Resource,
    StudentOutcome,
    SyncRun,
    UnitProgress,
)

RUNS = "/api/v1/sync-runs"


class HubClient(BaseClient):
    # sync runs
    def start_run(self, systems: list[str] | None = None, *, full: bool | None = None, periode: str | None = None,
                  idempotency_key: str | bool = True) -> SyncRun:
        """Queue a run (admin). An ``Idempotency-Key`` is sent (a fresh one unless given), so the call is retried
        safely: a retry answers the same run. A run already queued or running raises ``Conflict``."""
        body = {k: v for k, v in {"systems": systems, "full": full, "periode": periode}.items() if v is not None}
        return self.send_model("POST", RUNS, SyncRun, body, idempotency_key=idempotency_key)

    def get_run(self, run_id: str) -> SyncRun:
        return self.get_model(f"{RUNS}/{run_id}", SyncRun)

    def iter_runs(self, limit: int = 50) -> Iterator[SyncRun]:
        return self.iterate(RUNS, SyncRun, {"limit": limit})

    def list_units(self, run_id: str) -> list[UnitProgress]:
        return self.get_model(f"{RUNS}/{run_id}/units", list[UnitProgress])

    def iter_outcomes(self, run_id: str, limit: int = 1000) -> Iterator[StudentOutcome]:
        return self.iterate(f"{RUNS}/{run_id}/outcomes", StudentOutcome, {"limit": limit})

    def cancel_run(self, run_id: str) -> SyncRun:
        return self.send_model("POST", f"{RUNS}/{run_id}/cancel", SyncRun)

    def wait(self, run_id: str, *, poll: float = 1.0, timeout: float | None = None,
             on_progress: Callable[[SyncRun], None] | None = None) -> SyncRun:
        """Poll the run until it ends; ``on_progress`` sees every state (units done / failed / waiting)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            run = self.get_run(run_id)
            if on_progress is not None:
                on_progress(run)
            if run.ended or (deadline is not None and time.monotonic() > deadline):
                return run
            time.sleep(poll)

    # review
    def iter_cases(self, status: str = "OPEN") -> Iterator[CaseSummary]:
        return self.iterate("/api/v1/reviews", CaseSummary, {"status": status})

    def get_case(self, case_id: str) -> CaseView:
        return self.get_model(f"/api/v1/reviews/{case_id}", CaseView)

    def decide(self, case_id: str, verdict: str, reason: str, no_kk: str | None = None, *,
               idempotency_key: str | bool = True) -> DecisionView:
        body = {"verdict": verdict, "reason": reason, **({"no_kk": no_kk} if no_kk else {})}
        return self.send_model("POST", f"/api/v1/reviews/{case_id}/decision", DecisionView, body,
                               idempotency_key=idempotency_key)

    def reverse(self, decision_id: str, reason: str, *, idempotency_key: str | bool = True) -> DecisionView:
        return self.send_model("POST", f"/api/v1/reviews/decisions/{decision_id}/reverse", DecisionView,
                               {"reason": reason}, idempotency_key=idempotency_key)

    def decisions(self, system: str, student_id: str) -> list[DecisionView]:
        return self.get_model("/api/v1/reviews/decisions", list[DecisionView],
                              params={"system": system, "student_id": student_id})

    # provenance, verifications, families at risk
    def provenance(self, system: str, record_id: str) -> list[Resource]:
        return self.get_model("/api/v1/provenance", list[Resource], params={"system": system, "record_id": record_id})

    def iter_verifications(self, periode: str, **filters: Any) -> Iterator[Resource]:
        return self.iterate("/api/v1/education-verifications", Resource, {"periode": periode, **filters})

    def iter_families_at_risk(self, periode: str, **filters: Any) -> Iterator[Resource]:
        return self.iterate("/api/v1/families-at-risk", Resource, {"periode": periode, **filters})

    def families_at_risk_summary(self, periode: str) -> Resource:
        return self.get_model("/api/v1/families-at-risk/summary", Resource, params={"periode": periode})

    # ledger and access log
    def ledger_public_key(self) -> Resource:
        return self.get_model("/api/v1/ledger/public-key", Resource)

    def ledger_verify(self) -> Resource:
        return self.get_model("/api/v1/ledger/verify", Resource)

    def audit_verify(self) -> Resource:
        return self.get_model("/api/v1/audit/verify", Resource)
