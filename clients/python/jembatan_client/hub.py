"""The sync hub: runs and their outcomes, on-demand checks, review, provenance, education verifications,
families at risk, the ledger and the access log. One method per route (``operation`` names it)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from jembatan_client._base import BaseClient, FileFormat, operation, query, segment
from jembatan_client.models import (
    CaseSummary,
    CaseView,
    ChainReport,
    CheckRequest,
    CheckResponse,
    DecisionView,
    EducationVerification,
    FamilyAtRisk,
    LedgerCheckpoint,
    LedgerLookupAnswer,
    LedgerProof,
    LedgerPublicKey,
    LedgerReport,
    ProvenanceRecord,
    RiskSummary,
    StudentOutcome,
    SyncRun,
    UnitProgress,
    WhoRead,
)

RUNS = "/api/v1/sync-runs"
RISK = "/api/v1/families-at-risk"


class HubClient(BaseClient):
    # sync runs
    @operation("sync_runs_start_run")
    def start_run(self, systems: list[str] | None = None, *, full: bool | None = None, periode: str | None = None,
                  idempotency_key: str | bool = True) -> SyncRun:
        """Queue a run (admin). An ``Idempotency-Key`` is sent (a fresh one unless given), so the call is retried
        safely: a retry answers the same run. A run already queued or running raises ``Conflict``."""
        body = query(systems=systems, full=full, periode=periode)
        return self.send_model("POST", RUNS, SyncRun, body, idempotency_key=idempotency_key)

    @operation("sync_runs_get_run")
    def get_run(self, run_id: str) -> SyncRun:
        return self.get_model(f"{RUNS}/{run_id}", SyncRun)

    @operation("sync_runs_list_runs")
    def iter_runs(self, limit: int = 50) -> Iterator[SyncRun]:
        return self.iterate(RUNS, SyncRun, {"limit": limit})

    @operation("sync_runs_list_units")
    def list_units(self, run_id: str) -> list[UnitProgress]:
        return self.get_model(f"{RUNS}/{run_id}/units", list[UnitProgress])

    @operation("sync_runs_list_outcomes")
    def iter_outcomes(self, run_id: str, limit: int = 1000) -> Iterator[StudentOutcome]:
        return self.iterate(f"{RUNS}/{run_id}/outcomes", StudentOutcome, {"limit": limit})

    @operation("sync_runs_cancel_run")
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

    # on-demand checks (what a gateway's "Request Data PKH" calls)
    @operation("checks_check_students")
    def check(self, body: CheckRequest | dict[str, Any]) -> CheckResponse:
        """Decide up to 100 students now. Not retried: each call is a new check with its own id. ``Unavailable``
        (503) means the hub cannot decide yet (its registry replica is not ready): ask again later."""
        return self.send_model("POST", "/api/v1/checks", CheckResponse, body)

    # review
    @operation("review_list_cases")
    def iter_cases(self, status: str = "OPEN", limit: int | None = None) -> Iterator[CaseSummary]:
        return self.iterate("/api/v1/reviews", CaseSummary, query(status=status, limit=limit))

    @operation("review_get_case")
    def get_case(self, case_id: str) -> CaseView:
        return self.get_model(f"/api/v1/reviews/{segment(case_id)}", CaseView)

    @operation("review_decide")
    def decide(self, case_id: str, verdict: str, reason: str, no_kk: str | None = None, *,
               idempotency_key: str | bool = True) -> DecisionView:
        body = {"verdict": verdict, "reason": reason, **({"no_kk": no_kk} if no_kk else {})}
        return self.send_model("POST", f"/api/v1/reviews/{segment(case_id)}/decision", DecisionView, body,
                               idempotency_key=idempotency_key)

    @operation("review_reverse")
    def reverse(self, decision_id: str, reason: str, *, idempotency_key: str | bool = True) -> DecisionView:
        return self.send_model("POST", f"/api/v1/reviews/decisions/{segment(decision_id)}/reverse", DecisionView,
                               {"reason": reason}, idempotency_key=idempotency_key)

    @operation("review_decisions")
    def decisions(self, system: str, student_id: str) -> list[DecisionView]:
        return self.get_model("/api/v1/reviews/decisions", list[DecisionView],
                              params={"system": system, "student_id": student_id})

    # provenance, education verifications, families at risk
    @operation("provenance_for_record")
    def provenance(self, target_system: str, target_record: str) -> list[ProvenanceRecord]:
        """Where every value the hub wrote into this gateway record came from."""
        return self.get_model("/api/v1/provenance", list[ProvenanceRecord],
                              params={"target_system": target_system, "target_record": target_record})

    @operation("education_verification_list_verifications")
    def iter_verifications(self, periode: str, *, status: str | None = None, province: str | None = None,
                           limit: int | None = None) -> Iterator[EducationVerification]:
        return self.iterate("/api/v1/education-verifications", EducationVerification,
                            query(periode=periode, status=status, province=province, limit=limit))

    @operation("families_at_risk_list_families")
    def iter_families_at_risk(self, periode: str | None = None, *, province: str | None = None,
                              kabupaten: str | None = None, school: str | None = None, reason: str | None = None,
                              limit: int | None = None) -> Iterator[FamilyAtRisk]:
        return self.iterate(RISK, FamilyAtRisk, query(periode=periode, province=province, kabupaten=kabupaten,
                                                      school=school, reason=reason, limit=limit))

    @operation("families_at_risk_summary")
    def families_at_risk_summary(self, periode: str | None = None) -> RiskSummary:
        return self.get_model(f"{RISK}/summary", RiskSummary, params=query(periode=periode))

    @operation("families_at_risk_export")
    def export_families_at_risk(self, periode: str | None = None, *, format: FileFormat = "csv",
                                province: str | None = None, kabupaten: str | None = None,
                                school: str | None = None, reason: str | None = None,
                                into: BinaryIO | None = None) -> bytes | None:
        """The report as a CSV or XLSX file: its bytes, or streamed into ``into`` (None then)."""
        return self.download(f"{RISK}/export", query(periode=periode, format=format, province=province,
                                                     kabupaten=kabupaten, school=school, reason=reason), into)

    # ledger
    @operation("ledger_public_key")
    def ledger_public_key(self) -> LedgerPublicKey:
        return self.get_model("/api/v1/ledger/public-key", LedgerPublicKey)

    @operation("ledger_verify_ledger")
    def ledger_verify(self) -> LedgerReport:
        return self.get_model("/api/v1/ledger/verify", LedgerReport)

    @operation("ledger_sign_checkpoint")
    def ledger_checkpoint(self) -> LedgerCheckpoint:
        """Sign a checkpoint over the entries not yet covered (not retried: a retry could sign a second one)."""
        return self.send_model("POST", "/api/v1/ledger/checkpoints", LedgerCheckpoint)

    @operation("ledger_inclusion_proof")
    def ledger_proof(self, provenance_id: str, field: str) -> LedgerProof:
        return self.get_model("/api/v1/ledger/proof", LedgerProof,
                              params={"provenance_id": provenance_id, "field": field})

    @operation("ledger_lookup")
    def ledger_lookup(self, record_hashes: list[str]) -> LedgerLookupAnswer:
        """Which of these record hashes the ledger holds (a read sent as a POST for its size: retried)."""
        return self.send_model("POST", "/api/v1/ledger/lookup", LedgerLookupAnswer,
                               {"record_hashes": record_hashes}, retry=True)

    # access log
    @operation("audit_who_read")
    def who_read(self, nik: str) -> WhoRead:
        """Every response that showed this person's data in full. The NIK travels in the body, never in a URL;
        a read (retried), itself logged as one."""
        return self.send_model("POST", "/api/v1/audit/who-read", WhoRead, {"nik": nik}, retry=True)

    @operation("audit_verify")
    def audit_verify(self) -> ChainReport:
        return self.get_model("/api/v1/audit/verify", ChainReport)

